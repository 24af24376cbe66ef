"""Store-and-replay: a write that a client may send twice is done once and answered the same.

A request carries a key, unique within a *scope* (for the warehouse: the user and the endpoint;
for a messenger: the sender and its temp_id). The key row is inserted in the same transaction
as the work it guards and finished with the answer before the commit. A retry arriving while
the first is still running blocks on the unique index until that transaction ends, then reads
the stored answer; if the first rolled back (a crash, never a refusal: refusals are stored
too) the retry does the work itself. So a key stores its work at most once and always answers
the same; the same key with another request (its fingerprint differs) is a 409.

Each app owns its key table in its own migration branch: a model with ``IdempotencyRecord``'s
columns plus its scope columns and a unique constraint over scope + key, given to
``IdempotencyStore``. ``run_once`` is the route-layer wrapper around a unit of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, Integer, String, Table, and_, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from basis.core.db import UTCDateTime, insert_or_skip, retry_transient
from basis.core.errors import BasisError, Conflict, Unprocessable
from basis.core.time import utcnow

T = TypeVar("T")
MAX_KEY_LENGTH = 200


class IdempotencyRecord:
    """The columns every key table has; the app's model adds its scope columns."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


@dataclass(frozen=True, slots=True)
class Answer:
    """What an endpoint answered: replayed as it was to every retry with the same key."""

    status: int
    body: Any
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    scope: Mapping[str, Any]
    key: str


@dataclass(frozen=True, slots=True)
class Done(Generic[T]):
    """``run_once``'s outcome: the answer, and the work's own value unless it was a replay."""

    answer: Answer
    value: T | None


def invalid_key() -> Unprocessable:
    return Unprocessable(
        "Idempotency-Key must be 1-200 printable ASCII characters", code="invalid_idempotency_key"
    )


def key_conflict() -> Conflict:
    return Conflict("This Idempotency-Key was already used with another request", code="idempotency_conflict")


def in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still running; retry", code="idempotency_in_progress"
    )


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(32 < ord(ch) < 127 for ch in key):
        raise invalid_key()
    return key


def fingerprint(payload: Any) -> str:
    """The request's identity: the same payload, in any key order, gives the same digest."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    """Claims, answers and purges keys in one app's table, whose ``scope`` columns plus ``key``
    are unique."""

    def __init__(self, model: type[Any], scope: Sequence[str]) -> None:
        self.table: Table = model.__table__
        self.scope = tuple(scope)

    def _where(self, scope: Mapping[str, Any], key: str) -> Any:
        return and_(*(self.table.c[name] == scope[name] for name in self.scope), self.table.c.key == key)

    async def claim(
        self, session: AsyncSession, *, scope: Mapping[str, Any], key: str, payload: Any
    ) -> Claim | Answer:
        """Reserve ``key`` for this request, or the answer an earlier request with it gave."""
        digest = fingerprint(payload)
        values = {**{name: scope[name] for name in self.scope}, "key": key, "request_hash": digest}
        if await insert_or_skip(session, self.table, {**values, "created_at": utcnow()}):
            return Claim(scope, key)
        c = self.table.c
        row = (
            await session.execute(
                select(c.request_hash, c.status_code, c.response_body).where(self._where(scope, key))
            )
        ).one_or_none()
        if row is None:  # purged between the two statements
            raise in_progress()
        if row.request_hash != digest:
            raise key_conflict()
        if row.status_code is None:
            raise in_progress()
        return Answer(row.status_code, row.response_body, replayed=True)

    async def finish(self, session: AsyncSession, claimed: Claim, answer: Answer) -> None:
        """Store the answer with the key; the caller commits."""
        await session.execute(
            update(self.table)
            .where(self._where(claimed.scope, claimed.key))
            .values(status_code=answer.status, response_body=answer.body)
        )

    async def purge(self, session: AsyncSession, *, older_than_days: int) -> int:
        cutoff = utcnow() - dt.timedelta(days=older_than_days)
        result = await session.execute(delete(self.table).where(self.table.c.created_at < cutoff))
        await session.commit()
        return result.rowcount or 0  # type: ignore[attr-defined]


async def run_once(
    session: AsyncSession,
    store: IdempotencyStore,
    *,
    scope: Mapping[str, Any],
    key: str | None,
    payload: Any,
    work: Callable[[], Awaitable[T]],
    answer: Callable[[T], Answer],
    on_retry: Callable[[int, DBAPIError], None] | None = None,
) -> Done[T]:
    """Run ``work`` (which must not commit) and commit, at most once per key.

    Without a key this is ``work`` and a commit. A refusal (a ``BasisError`` below 500) is
    stored and replayed like a success. The whole attempt runs again after a deadlock or a lock
    timeout, as the database chose it as the victim: after a rollback, which expires the
    session's ORM rows, so ``work`` takes plain values read beforehand (an actor's id, not the row).
    """

    async def attempt() -> Done[T]:
        claimed: Claim | None = None
        if key is not None:
            got = await store.claim(session, scope=scope, key=key, payload=payload)
            if isinstance(got, Answer):
                await session.rollback()
                return Done(got, None)
            claimed = got
        try:
            value = await work()
        except BasisError as error:
            if claimed is None or error.status_code >= 500:
                raise
            await store.finish(session, claimed, Answer(error.status_code, error.body()))
            await session.commit()
            raise
        done = Done(answer(value), value)
        if claimed is not None:
            await store.finish(session, claimed, done.answer)
        await session.commit()
        return done

    return await retry_transient(attempt, before_retry=session.rollback, on_retry=on_retry)
