"""The example app's registration: everything the core knows about it."""

from __future__ import annotations

from pathlib import Path

from basis.core.apps import AppSpec
from tests.example_app.cli import cli
from tests.example_app.router import public_router, router
from tests.example_app.service import demo
from tests.example_app.settings import ExampleSettings

spec = AppSpec(
    name="example",
    routers=[router],
    public_routers=[public_router],
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="tests.example_app.models",
    demo=demo,
    cli=cli,
    jobs_module="tests.example_app.jobs",
    settings=ExampleSettings,
)
