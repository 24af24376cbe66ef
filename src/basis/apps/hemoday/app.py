"""The HemoDay app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from basis.apps.hemoday.admin import VIEWS
from basis.apps.hemoday.demo import demo
from basis.apps.hemoday.reminders import start_scanner, stop_scanner
from basis.apps.hemoday.router import public_router, router
from basis.apps.hemoday.settings import HemodaySettings
from basis.core.apps import AppSpec

spec = AppSpec(
    name="hemoday",
    routers=[router],
    public_routers=[public_router],  # its reset link opens the core's page (rule 20)
    admin_views=VIEWS,
    demo=demo,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.hemoday.models",
    settings=HemodaySettings,
    jobs_module="basis.apps.hemoday.jobs",
    on_startup=[start_scanner],
    on_shutdown=[stop_scanner],
    # The upload route counts its own body while it streams: files up to 10 MiB (rule 21).
    own_body_limit=[("POST", "/api/v1/upload")],
)
