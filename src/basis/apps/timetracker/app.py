"""The TimeTracker app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from basis.apps.timetracker.admin import VIEWS
from basis.apps.timetracker.audit_router import router as audit_router
from basis.apps.timetracker.cli import cli
from basis.apps.timetracker.demo import demo
from basis.apps.timetracker.reports_router import router as reports_router
from basis.apps.timetracker.router import public_router, terminal_router
from basis.apps.timetracker.schedules_router import router as schedules_router
from basis.apps.timetracker.settings import TimetrackerSettings
from basis.apps.timetracker.staff_router import router as staff_router
from basis.apps.timetracker.terminal import Pipeline
from basis.apps.timetracker.terminals_router import router as terminals_router
from basis.core.apps import AppSpec


async def _start_scans(app: FastAPI) -> None:
    state = app.state
    state.timetracker_scans = Pipeline.of(state.db, state.infra, state.settings)


async def _stop_scans(app: FastAPI) -> None:
    pipeline = getattr(app.state, "timetracker_scans", None)  # absent when start-up failed earlier
    if pipeline is not None:
        await pipeline.writer.close()


spec = AppSpec(
    name="timetracker",
    # In this order: the paths appear in the OpenAPI document as they are listed here.
    routers=[staff_router, reports_router, schedules_router, terminals_router, audit_router],
    hot_routers=[terminal_router],
    public_routers=[public_router],
    admin_views=VIEWS,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.timetracker.models",
    demo=demo,
    cli=cli,
    on_startup=[_start_scans],
    on_shutdown=[_stop_scans],
    settings=TimetrackerSettings,
)
