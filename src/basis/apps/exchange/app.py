"""The exchange app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from basis.apps.exchange.settings import ExchangeSettings
from basis.core.apps import AppSpec

spec = AppSpec(
    name="exchange",
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.exchange.models",
    settings=ExchangeSettings,
)
