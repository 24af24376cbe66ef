"""Factory for real server processes in tests: the product's apps plus the test-only example app.

Started as ``uvicorn --factory tests.support.server:create`` with the settings in the
environment (BASIS_*), exactly as ``basis serve`` would read them.
"""

from __future__ import annotations

from fastapi import FastAPI

from basis.core.apps import AppRef, discovered_apps
from basis.main import create_app


def available_apps() -> dict[str, AppRef]:
    """The installed apps plus the example app, handed over directly (tests/core/test_registry.py
    installs it as a real entry-point plug-in instead)."""
    return {**discovered_apps(), "example": "tests.example_app.app:spec"}


def create() -> FastAPI:
    return create_app(available=available_apps())
