"""The warehouse app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from basis.apps.warehouse.admin import VIEWS
from basis.apps.warehouse.cli import cli
from basis.apps.warehouse.demo import demo
from basis.apps.warehouse.router import router
from basis.apps.warehouse.settings import WarehouseSettings
from basis.core.apps import AppSpec

spec = AppSpec(
    name="warehouse",
    routers=[router],
    public_routers=[],
    admin_views=VIEWS,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.warehouse.models",
    demo=demo,
    cli=cli,
    jobs_module="basis.apps.warehouse.jobs",
    settings=WarehouseSettings,
)
