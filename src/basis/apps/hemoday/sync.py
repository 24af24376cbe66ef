"""The WatermelonDB sync protocol: pull by server change time, push whole or not at all.

Every pull and push of a family takes its family row's lock first. A push stamps its changes
with ``max(now, clock + 1)`` and a pull answers ``max(now, clock)`` and records it, so a change
committed after a pull answered always has a later change time than its ``timestamp`` (rule 5),
and two pushes of one family never interleave: of two conflicting ones, the second sees the
first's change time and is refused (rule 9), in any number of processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import exceptions as exc
from basis.apps.hemoday.defaults import GLOBAL_TIME_MS, WITH_DEFAULT_FLAG, pulled_global_rows
from basis.apps.hemoday.models import SYNCED, Family
from basis.apps.hemoday.records import COLUMNS, COMPUTED, TablePush, computed, parse_changes
from basis.core.db import plain_rows
from basis.core.time import from_ms, to_ms, utcnow

MAX_CLIENT_MS = 2**53
"""The largest last_pulled_at accepted: a JavaScript number stays exact up to here."""


def pulled_columns(table: str) -> tuple[str, ...]:
    return (*COLUMNS[table], *COMPUTED.get(table, ()))


async def _lock_clock(session: AsyncSession, family_id: str) -> int:
    stmt = select(Family.clock_ms).where(Family.id == family_id).with_for_update()
    return int((await session.execute(stmt)).scalar_one())


async def _set_clock(session: AsyncSession, family_id: str, value: int) -> None:
    await session.execute(update(Family).where(Family.id == family_id).values(clock_ms=value))


def _row(table: str, names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(names, values, strict=True))
    # plain_rows gives PostgreSQL's aware datetimes as psycopg reads them (in UTC), elsewhere
    # UTCDateTime's: aware UTC either way.
    row["created_at"] = to_ms(row["created_at"])
    row["updated_at"] = to_ms(row["updated_at"])
    if table in WITH_DEFAULT_FLAG:
        row["is_default"] = False
    return row


async def pull(*, session: AsyncSession, family_id: str, last_pulled_at: int | None) -> dict[str, Any]:
    """The family's changes after ``last_pulled_at`` (None: a first pull) and the new timestamp."""
    clock = await _lock_clock(session, family_id)
    timestamp = max(to_ms(utcnow()), clock)
    changes: dict[str, dict[str, list[Any]]] = {}
    conn = await session.connection()
    for table, model in SYNCED.items():
        names = ("id", *pulled_columns(table), "created_at", "updated_at")
        t = model.__table__  # type: ignore[attr-defined]
        stmt = select(*(t.c[n] for n in names), t.c.deleted_at).where(t.c.family_id == family_id)
        if last_pulled_at is None:
            stmt = stmt.where(t.c.deleted_at.is_(None))
        else:
            stmt = stmt.where(t.c.changed_ms > last_pulled_at)
        created: list[Any] = []
        updated: list[Any] = []
        deleted: list[str] = []
        if last_pulled_at is None or last_pulled_at < GLOBAL_TIME_MS:
            created.extend(pulled_global_rows(table))
        for values in await plain_rows(conn, stmt.order_by(t.c.changed_ms, t.c.pk)):
            if values[-1] is not None:
                deleted.append(values[0])
                continue
            row = _row(table, names, values[:-1])
            fresh = last_pulled_at is None or row["created_at"] > last_pulled_at
            (created if fresh else updated).append(row)
        changes[table] = {"created": created, "updated": updated, "deleted": deleted}
    if timestamp > clock:
        await _set_clock(session, family_id, timestamp)
    await session.commit()
    return {"changes": changes, "timestamp": timestamp}


async def push(*, session: AsyncSession, family_id: str, changes: Any, last_pulled_at: int) -> None:
    """Apply a whole push in one transaction, or refuse it (422, 409) with nothing stored."""
    work = parse_changes(changes)
    clock = await _lock_clock(session, family_id)
    now_ms = max(to_ms(utcnow()), clock + 1)
    plans = [
        (table, await _plan(session, table, family_id, tw, last_pulled_at)) for table, tw in work.items()
    ]
    conflicts = [c for _table, plan in plans for c in plan.conflicts]
    if conflicts:
        await session.rollback()
        raise exc.sync_conflict(conflicts)
    wrote = False
    for table, plan in plans:
        wrote = await _apply(session, table, family_id, plan, now_ms) or wrote
    if wrote:
        await _set_clock(session, family_id, now_ms)
    await session.commit()


class _Plan:
    def __init__(self) -> None:
        self.inserts: list[tuple[str, dict[str, Any]]] = []
        self.updates: list[tuple[int, dict[str, Any]]] = []
        self.touches: list[int] = []
        """Deleted rows a push tried to change: a new change time only (rule 24)."""
        self.deletes: list[int] = []
        self.conflicts: list[dict[str, Any]] = []


async def _plan(
    session: AsyncSession, table: str, family_id: str, work: TablePush, last_pulled_at: int
) -> _Plan:
    model = SYNCED[table]
    t = model.__table__  # type: ignore[attr-defined]
    ids = [*work.upserts, *work.deletes]
    client = tuple(COLUMNS[table])
    stored: dict[str, Any] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        stmt = select(t.c.pk, t.c.id, t.c.changed_ms, t.c.deleted_at, *(t.c[n] for n in client)).where(
            t.c.family_id == family_id, t.c.id.in_(part)
        )
        for row in (await session.execute(stmt)).all():
            stored[row.id] = row
    plan = _Plan()
    for record_id, values in work.upserts.items():
        row = stored.get(record_id)
        if row is None:
            plan.inserts.append((record_id, values))
        elif row.deleted_at is not None:
            plan.touches.append(row.pk)
        elif any(getattr(row, name) != value for name, value in values.items()):
            if row.changed_ms > last_pulled_at:
                plan.conflicts.append({"table": table, "id": record_id})
            else:
                merged = {name: getattr(row, name) for name in client} | values
                plan.updates.append((row.pk, values | computed(table, merged)))
    for record_id in work.deletes:
        row = stored.get(record_id)
        if row is None or row.deleted_at is not None:
            continue
        if row.changed_ms > last_pulled_at:
            plan.conflicts.append({"table": table, "id": record_id})
        else:
            plan.deletes.append(row.pk)
    return plan


async def _apply(session: AsyncSession, table: str, family_id: str, plan: _Plan, now_ms: int) -> bool:
    t = SYNCED[table].__table__  # type: ignore[attr-defined]
    now = from_ms(now_ms)
    stamp = {"updated_at": now, "changed_ms": now_ms}
    if plan.inserts:
        blank = dict.fromkeys(COLUMNS[table])
        rows = [
            {
                **blank,
                **values,
                **computed(table, values),
                "id": record_id,
                "family_id": family_id,
                "created_at": now,
                **stamp,
            }
            for record_id, values in plan.inserts
        ]
        if table in WITH_DEFAULT_FLAG:
            for row in rows:
                row["is_default"] = False
        await session.execute(insert(t), rows)
    # One executemany per set of columns: a client sends whole records, so usually one in all.
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for pk, values in plan.updates:
        groups.setdefault(tuple(sorted(values)), []).append({"_pk": pk, **values, **stamp})
    for names, rows in groups.items():
        stmt = (
            update(t)
            .where(t.c.pk == bindparam("_pk"))
            .values({name: bindparam(name) for name in (*names, *stamp)})
        )
        await session.execute(stmt.execution_options(synchronize_session=False), rows)
    if plan.touches:
        await session.execute(update(t).where(t.c.pk.in_(plan.touches)).values(changed_ms=now_ms))
    if plan.deletes:
        await session.execute(update(t).where(t.c.pk.in_(plan.deletes)).values(deleted_at=now, **stamp))
    return bool(plan.inserts or plan.updates or plan.touches or plan.deletes)
