"""The TimeTracker app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from basis.apps.timetracker.admin import VIEWS
from basis.apps.timetracker.cli import cli
from basis.apps.timetracker.demo import demo
from basis.apps.timetracker.router import public_router, router, terminal_router
from basis.core.apps import AppSpec

spec = AppSpec(
    name="timetracker",
    routers=[router],
    public_routers=[terminal_router, public_router],
    admin_views=VIEWS,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.timetracker.models",
    demo=demo,
    cli=cli,
)
