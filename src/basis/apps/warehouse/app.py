"""The warehouse app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from basis.apps.warehouse.admin import VIEWS
from basis.apps.warehouse.cli import cli
from basis.apps.warehouse.demo import demo
from basis.apps.warehouse.dependencies import KEYS
from basis.apps.warehouse.movement_writer import MovementWriter
from basis.apps.warehouse.router import hot_router, router
from basis.apps.warehouse.settings import WarehouseSettings
from basis.core.apps import AppSpec


async def start_writer(app: FastAPI) -> None:
    state = app.state
    state.warehouse_movements = MovementWriter(state.db.sessionmaker, KEYS, state.infra.jobs)


async def stop_writer(app: FastAPI) -> None:
    writer = getattr(app.state, "warehouse_movements", None)  # absent when start-up failed earlier
    if writer is not None:
        await writer.close()


spec = AppSpec(
    name="warehouse",
    routers=[router],
    hot_routers=[hot_router],  # POST /stock-movements: it checks its caller itself
    admin_views=VIEWS,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.warehouse.models",
    demo=demo,
    cli=cli,
    jobs_module="basis.apps.warehouse.jobs",
    settings=WarehouseSettings,
    on_startup=[start_writer],
    on_shutdown=[stop_writer],
)
