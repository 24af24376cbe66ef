"""The exchange app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from basis.apps.exchange.admin import VIEWS
from basis.apps.exchange.cli import cli
from basis.apps.exchange.demo import demo
from basis.apps.exchange.lifecycle import on_shutdown, on_startup
from basis.apps.exchange.router import public_router, router
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.apps import AppSpec

spec = AppSpec(
    name="exchange",
    routers=[router],
    public_routers=[public_router],
    admin_views=VIEWS,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.exchange.models",
    demo=demo,
    cli=cli,
    jobs_module="basis.apps.exchange.jobs",
    settings=ExchangeSettings,
    on_startup=[on_startup],
    on_shutdown=[on_shutdown],
)
