"""Background work: re-matching the members whose listings changed."""

from __future__ import annotations

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


async def schedule(jobs: JobQueue, user_ids: list[int]) -> None:
    await jobs.enqueue(REMATCH, user_ids=sorted(set(user_ids)))
