"""Jobs staged in a transaction: queued if and only if it commits, never lost after it does.

``enqueue`` after a commit loses the job when the process dies (or Redis is away) between the
two; before the commit, it may run a job for a change that then rolls back. ``stage`` writes
the job into the ``job_outbox`` table inside the caller's transaction instead:

    queue.stage(session, "warehouse.low_stock_mail", key=f"low:{movement_id}", movement_id=...)
    await session.commit()   # the job is queued as this returns

When the transaction commits, the committing process queues the staged jobs at once and deletes
their rows; a row left behind (the process died, Redis refused the job) is queued by the sweep
that every server and worker runs, after ``grace`` seconds. A job may so be queued twice: its
key (required) makes the second delivery a no-op (``job_runs``).

A job staged with ``not_before`` (a due time) is a delay that survives restarts: the commit
leaves it in the table and the sweep queues it once it is due (within the sweep's interval), so
nothing waits inside a running job where a shutdown would lose it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, event, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_only, in_greenlet

from basis.core.logging import get_logger
from basis.core.models import JobOutbox
from basis.core.time import utcnow

if TYPE_CHECKING:
    from basis.core.jobs import JobQueue

log = get_logger("basis.jobs")

_STAGED = "basis.outbox.staged"
_READY = "basis.outbox.ready"
BATCH = 200


def stage(
    queue: JobQueue,
    session: AsyncSession,
    name: str,
    key: str,
    kwargs: dict[str, Any],
    not_before: dt.datetime | None = None,
) -> None:
    now = utcnow()
    due = not_before if not_before is not None and not_before > now else None
    row = JobOutbox(task=name, key=key, kwargs=json.dumps(kwargs), created_at=now, not_before=due)
    session.add(row)
    if due is None:  # due now: queued as the transaction commits; later ones wait for the sweep
        session.sync_session.info.setdefault(_STAGED, []).append((queue, row))


@event.listens_for(Session, "after_flush_postexec")
def _flushed(session: Session, _context: Any) -> None:
    staged = session.info.get(_STAGED)
    if not staged:
        return
    # The values as written, kept now: the commit expires the row objects.
    ready = session.info.setdefault(_READY, [])
    for queue, row in staged:
        ready.append((queue, (row.id, row.task, row.key, row.kwargs)))
    staged.clear()


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_STAGED, None)
    ready = session.info.pop(_READY, None)
    if not ready:
        return
    by_queue: dict[int, tuple[JobQueue, list[tuple[int, str, str, str]]]] = {}
    for queue, entry in ready:
        by_queue.setdefault(id(queue), (queue, []))[1].append(entry)
    for queue, rows in by_queue.values():
        sending = _send_after_commit(queue, rows)
        if in_greenlet():
            await_only(sending)  # the commit returns once its jobs are queued
        else:
            with suppress(RuntimeError):
                asyncio.get_running_loop().create_task(sending)
                continue
            sending.close()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_STAGED, None)
    session.info.pop(_READY, None)


async def send(queue: JobQueue, rows: list[tuple[int, str, str, str]]) -> None:
    """Queues ``rows`` (id, task, key, kwargs) and deletes those that were queued."""
    await forget(queue, await _queue(queue, rows))


async def _send_after_commit(queue: JobQueue, rows: list[tuple[int, str, str, str]]) -> None:
    """The commit returns once its jobs are queued; their rows are deleted once the committing
    session has let go of its connection (SQLite's pool holds one: deleting them inside the
    commit would wait for the connection the commit itself holds)."""
    sent = await _queue(queue, rows)
    if sent:
        task = asyncio.get_running_loop().create_task(forget(queue, sent))
        _FORGETTING.add(task)
        task.add_done_callback(_FORGETTING.discard)


_FORGETTING: set[asyncio.Task[None]] = set()


async def settle(seconds: float = 5.0) -> None:
    """Wait for the deletions of queued rows still running (a closing queue calls this before
    its database goes away); a row left behind is queued again by a sweep, as a no-op."""
    pending = [t for t in _FORGETTING if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=seconds)


async def _queue(queue: JobQueue, rows: list[tuple[int, str, str, str]]) -> list[int]:
    sent: list[int] = []
    try:
        for row_id, task, key, kwargs in rows:
            await queue.enqueue(task, key=key, **json.loads(kwargs))
            sent.append(row_id)
    except Exception as exc:
        # Left in the outbox: the sweep queues them once the queue takes jobs again.
        log.warning("staged jobs left for the sweep", count=len(rows) - len(sent), error=str(exc))
    return sent


async def forget(queue: JobQueue, sent: list[int]) -> None:
    if not sent:
        return
    try:
        async with queue.db.sessionmaker() as session:
            await session.execute(delete(JobOutbox).where(JobOutbox.id.in_(sent)))
            await session.commit()
    except Exception as exc:
        # Queued already: the sweep queues them again and their keys make that a no-op.
        log.warning("queued jobs left in the outbox", count=len(sent), error=str(exc))


async def sweep(queue: JobQueue, *, grace: float) -> int:
    """Queues the rows older than ``grace`` seconds (their committing process did not) and the
    rows whose due time has come; returns how many were queued."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=grace)
    left_behind = and_(JobOutbox.not_before.is_(None), JobOutbox.created_at < cutoff)
    async with queue.db.sessionmaker() as session:
        stmt = select(JobOutbox.id, JobOutbox.task, JobOutbox.key, JobOutbox.kwargs).where(
            or_(left_behind, JobOutbox.not_before <= now)
        )
        rows = [tuple(r) for r in (await session.execute(stmt.order_by(JobOutbox.id).limit(BATCH))).all()]
    if rows:
        log.info("queueing jobs left in the outbox", count=len(rows))
        await send(queue, rows)  # type: ignore[arg-type]
    return len(rows)
