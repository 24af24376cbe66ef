"""Factory for real server processes in tests: the product's apps plus the test-only example app.

Started as ``uvicorn --factory tests.support.server:create`` with the settings in the
environment (BASIS_*), exactly as ``basis serve`` would read them.
"""

from __future__ import annotations

from fastapi import FastAPI

from basis.core.apps import KNOWN_APPS, AppSpec
from basis.main import create_app


def available_apps() -> dict[str, str | AppSpec]:
    return {**KNOWN_APPS, "example": "tests.example_app.app:spec"}


def create() -> FastAPI:
    return create_app(available=available_apps())
