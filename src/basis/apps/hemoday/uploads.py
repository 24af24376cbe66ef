"""Uploaded files: type read from the content, stored under the family's own key prefix, served
only through signed expiring links that a member of that family asks for (rules 21, 34).

A documents row's ``file_url`` is the app's text: it gives no access. Access follows the
``hemoday_uploads`` row of the file, and that row belongs to one family.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import exceptions as exc
from basis.apps.hemoday.models import Upload
from basis.core.errors import Unprocessable
from basis.core.storage import PayloadTooLarge, Storage, require_content_type
from basis.core.time import utcnow

ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "application/pdf")
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "image/heif": ".heif",
    "application/pdf": ".pdf",
}
KEY_PREFIX = "hemoday"


@dataclass(frozen=True, slots=True)
class Stored:
    file_url: str
    filename: str
    size: int
    content_type: str


def family_prefix(family_id: str) -> str:
    return f"{KEY_PREFIX}/{family_id}/"


def clean_filename(name: str | None) -> str:
    """The name as sent, Unicode kept; only what no database stores is taken out."""
    name = (name or "").replace("\x00", "").strip() or "file"
    name = name.encode("utf-8", "replace").decode("utf-8")
    return name[:255]


async def store(
    *,
    session: AsyncSession,
    storage: Storage,
    family_id: str,
    user_id: int,
    filename: str | None,
    data: bytes,
    max_bytes: int,
) -> Stored:
    """Check size and type before a byte is stored, then store and record the file."""
    if not data:
        raise Unprocessable(
            [{"loc": ["body", "file"], "msg": "The file is empty", "type": "value_error"}],
            code="validation_error",
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"A file may be at most {max_bytes} bytes")
    content_type = require_content_type(data, ALLOWED_TYPES)
    key = f"{family_prefix(family_id)}{uuid.uuid4().hex}{EXTENSIONS[content_type]}"
    name = clean_filename(filename)
    await storage.put(key, data, content_type)
    session.add(
        Upload(
            family_id=family_id,
            key=key,
            filename=name,
            content_type=content_type,
            size=len(data),
            uploaded_by=user_id,
            created_at=utcnow(),
        )
    )
    await session.commit()
    return Stored(key, name, len(data), content_type)


async def link(
    *, session: AsyncSession, storage: Storage, family_id: str, file_url: str, expires_in: int
) -> str:
    """A signed download link of the family's own file; any other is unknown (404)."""
    key = file_url.strip()
    found = await session.scalar(select(Upload.id).where(Upload.key == key, Upload.family_id == family_id))
    if found is None:
        raise exc.file_not_found()
    return await storage.presign_get(key, expires_in)


async def family_files(session: AsyncSession, family_id: str) -> list[Upload]:
    return list(
        (
            await session.execute(select(Upload).where(Upload.family_id == family_id).order_by(Upload.id))
        ).scalars()
    )
