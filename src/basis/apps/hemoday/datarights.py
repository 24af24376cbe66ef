"""A family's data rights (rule 25): its whole record as JSON, and deleting it all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import exceptions as exc
from basis.apps.hemoday import families, uploads
from basis.apps.hemoday.families import Caller
from basis.apps.hemoday.models import SYNCED, Family
from basis.apps.hemoday.sync import pulled_columns
from basis.core.logging import get_logger
from basis.core.storage import Storage
from basis.core.time import to_ms
from basis.identity.events import Meta
from basis.identity.login import check_current_password
from basis.identity.models import User

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings

log = get_logger("basis.hemoday")


async def export(
    *, session: AsyncSession, storage: Storage, family_id: str, link_seconds: int
) -> dict[str, Any]:
    """Everything the family has, live rows only, with a signed link for every uploaded file."""
    records: dict[str, list[dict[str, Any]]] = {}
    for table, model in SYNCED.items():
        t = model.__table__  # type: ignore[attr-defined]
        names = ("id", *pulled_columns(table))
        stmt = (
            select(*(t.c[n] for n in names), t.c.created_at, t.c.updated_at)
            .where(t.c.family_id == family_id, t.c.deleted_at.is_(None))
            .order_by(t.c.pk)
        )
        records[table] = [
            {
                **{n: row[i] for i, n in enumerate(names)},
                "created_at": to_ms(row.created_at),
                "updated_at": to_ms(row.updated_at),
            }
            for row in (await session.execute(stmt)).all()
        ]
    files = [
        {
            "file_url": f.key,
            "filename": f.filename,
            "size": f.size,
            "content_type": f.content_type,
            "created_at": f.created_at,
            "download_url": await storage.presign_get(f.key, link_seconds),
        }
        for f in await uploads.family_files(session, family_id)
    ]
    family = await families.details(session, family_id)
    return {"family": family, "records": records, "files": files, "link_expires_in": link_seconds}


async def delete_family(
    *, session: AsyncSession, settings: Settings, infra: Infra, caller: Caller, password: str, meta: Meta
) -> None:
    """The owner deletes the family and everything in it; every member is left without it at
    once (each gets a new, empty family of their own on their next call)."""
    if not caller.is_owner:
        raise exc.owner_only()
    user = await session.get(User, caller.user_id)
    assert user is not None
    await check_current_password(
        session=session,
        settings=settings,
        infra=infra,
        user=user,
        password=password,
        meta=meta,
        event_type="login_failure",
    )
    keys = [f.key for f in await uploads.family_files(session, caller.family_id)]
    await session.execute(delete(Family).where(Family.id == caller.family_id))
    families.record(session, caller, "family_deleted", family_id=caller.family_id, after={"files": len(keys)})
    await session.commit()
    # The rows are gone first: a file whose removal fails is unreachable (no row grants a link).
    for key in keys:
        try:
            await infra.storage.delete(key)
        except Exception:  # a storage hiccup must not undo a committed deletion
            log.warning("hemoday_file_not_deleted", key=key)
