"""Background work: re-matching the members whose listings changed."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import matching, notify
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.jobs import JobContext, JobQueue, job
from basis.core.logging import get_logger
from basis.core.models import JobOutbox
from basis.core.time import utcnow

log = get_logger("basis.exchange.jobs")

REMATCH = "exchange.rematch"


@job(REMATCH, retries=3)
async def rematch(ctx: JobContext, *, user_ids: list[int]) -> None:
    """Idempotent: a run proposes only what is not proposed yet and cancels only what stopped fitting."""
    settings = ctx.settings.app(ExchangeSettings)
    async with ctx.sessionmaker() as session:
        outcome = await matching.rematch(session, settings=settings, user_ids=sorted(set(user_ids)))
    await notify.proposals(ctx.hub, outcome.notifications)


def _key() -> str:
    return f"exchange.rematch:{uuid.uuid4().hex}"


def stage(jobs: JobQueue, session: AsyncSession, user_ids: list[int]) -> None:
    """Re-matching once ``session`` commits (``basis.core.outbox``): never lost after the commit.
    Each change gets its own key, so a later change is never taken for a repeat of this one."""
    jobs.stage(session, REMATCH, key=_key(), user_ids=sorted(set(user_ids)))


async def schedule(jobs: JobQueue, session: AsyncSession, user_ids: list[int]) -> None:
    """Re-matching queued now, after a commit; when the queue refuses it (Redis away), it is kept
    in the outbox, whose sweep queues it once Redis is back: never lost silently."""
    key, kwargs = _key(), {"user_ids": sorted(set(user_ids))}
    try:
        await jobs.enqueue(REMATCH, key=key, **kwargs)
    except Exception as error:
        log.warning("exchange_rematch_kept_for_the_sweep", error=str(error))
        session.add(JobOutbox(task=REMATCH, key=key, kwargs=json.dumps(kwargs), created_at=utcnow()))
        await session.commit()
