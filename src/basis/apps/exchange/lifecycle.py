"""Start-up and shutdown of the exchange in a server process."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from basis.apps.exchange import categories, moderation
from basis.apps.exchange.cli import WORKER_NOTE
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.logging import get_logger

log = get_logger("basis.exchange")
LIFT_BANS_EVERY = 60.0


async def on_startup(app: FastAPI) -> None:
    async with app.state.db.sessionmaker() as session:
        await categories.ensure_shipped(session)
    app.state.exchange_bans_task = asyncio.create_task(_lift_bans(app), name="exchange-lift-bans")
    if app.state.settings.redis_url and app.state.settings.app(ExchangeSettings).rematch_in_background:
        log.info("exchange_rematch_runs_in_worker", note=WORKER_NOTE)


async def on_shutdown(app: FastAPI) -> None:
    task = getattr(app.state, "exchange_bans_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _lift_bans(app: FastAPI) -> None:
    """Every process lifts expired bans; the updates are idempotent, so several may run."""
    while True:
        await asyncio.sleep(LIFT_BANS_EVERY)
        try:
            async with app.state.db.sessionmaker() as session:
                await moderation.lift_expired(session, settings=app.state.settings, infra=app.state.infra)
        except Exception as error:  # a database outage must not end the loop
            log.warning("exchange_lift_bans_failed", error=str(error))
