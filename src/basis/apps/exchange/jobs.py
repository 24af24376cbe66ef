"""Background work: re-matching the members whose listings changed."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import matching, notify
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.jobs import JobContext, JobQueue, job

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
