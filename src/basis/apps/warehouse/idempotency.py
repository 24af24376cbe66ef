"""W5: an ``Idempotency-Key`` makes a write safe to retry.

The key row is inserted in the same transaction as the work it guards and finished with the
answer before the commit. A retry arriving while the first is still running blocks on the
unique index until that transaction ends, then reads the stored answer; if the first rolled
back (a crash, never a refusal: refusals are stored too) the retry does the work itself. So a
key stores its work at most once and always answers the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse.models import IdempotencyKey
from basis.core.time import utcnow

KEYS: Table = IdempotencyKey.__table__  # type: ignore[assignment]
DUPLICATE_KEY = 1062
MAX_KEY_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """What an endpoint answered: replayed as it was to every retry with the same key."""

    status: int
    body: Any
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    user_id: int
    endpoint: str
    key: str


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(32 < ord(ch) < 127 for ch in key):
        raise exc.invalid_idempotency_key()
    return key


def request_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def insert_ignore(session: AsyncSession, table: Table) -> Insert:
    """PostgreSQL's and SQLite's INSERT that does nothing on a unique conflict."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


async def insert_or_skip(session: AsyncSession, table: Table, values: dict[str, Any]) -> bool:
    """True when the row was inserted, False when a unique conflict skipped it.

    Like ``INSERT ... ON CONFLICT DO NOTHING``, the insert first waits for a concurrent
    transaction holding the same key, so the caller then reads that transaction's committed row.
    """
    if session.get_bind().dialect.name == "mysql":
        # INSERT IGNORE would make the driver fetch and log a warning for every retry; a
        # duplicate-key error only undoes this statement in MariaDB, the transaction goes on.
        try:
            await session.execute(insert(table).values(**values))
        except IntegrityError as error:
            if getattr(error.orig, "args", (None,))[0] != DUPLICATE_KEY:
                raise
            return False
        return True
    # RETURNING tells whether a row went in; rowcount is not reliable with it.
    stmt = insert_ignore(session, table).values(**values).returning(table.c.id)
    return (await session.execute(stmt)).first() is not None


async def claim(
    session: AsyncSession, *, user_id: int, endpoint: str, key: str, payload: dict[str, Any]
) -> Claim | Answer:
    """Reserve ``key`` for this request, or the answer an earlier request with it gave."""
    digest = request_hash(payload)
    values = {
        "user_id": user_id,
        "endpoint": endpoint,
        "key": key,
        "request_hash": digest,
        "created_at": utcnow(),
    }
    if await insert_or_skip(session, KEYS, values):
        return Claim(user_id, endpoint, key)
    row = (
        await session.execute(
            select(KEYS.c.request_hash, KEYS.c.status_code, KEYS.c.response_body).where(
                KEYS.c.user_id == user_id, KEYS.c.endpoint == endpoint, KEYS.c.key == key
            )
        )
    ).one_or_none()
    if row is None:  # purged between the two statements
        raise exc.idempotency_in_progress()
    if row.request_hash != digest:
        raise exc.idempotency_conflict()
    if row.status_code is None:
        raise exc.idempotency_in_progress()
    return Answer(row.status_code, row.response_body, replayed=True)


async def finish(session: AsyncSession, claimed: Claim | None, answer: Answer) -> None:
    """Store the answer with the key; the caller commits."""
    if claimed is None:
        return
    await session.execute(
        update(KEYS)
        .where(
            KEYS.c.user_id == claimed.user_id, KEYS.c.endpoint == claimed.endpoint, KEYS.c.key == claimed.key
        )
        .values(status_code=answer.status, response_body=answer.body)
    )


async def purge(session: AsyncSession, *, older_than_days: int) -> int:
    from datetime import timedelta

    from sqlalchemy import delete

    result = await session.execute(
        delete(KEYS).where(KEYS.c.created_at < utcnow() - timedelta(days=older_than_days))
    )
    await session.commit()
    return result.rowcount or 0
