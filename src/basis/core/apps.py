"""What an app gives the core: one small object, registered by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI


DemoHook = Callable[..., Awaitable[None]]
"""``async def demo(*, session: AsyncSession, settings: Settings, progress: Progress, size: str)``"""


@dataclass(frozen=True, slots=True)
class AppSpec:
    name: str
    routers: Sequence[APIRouter] = ()
    """Authenticated by default: every route needs a valid access token."""
    public_routers: Sequence[APIRouter] = ()
    """Explicit opt-out from authentication (login, terminal protocol with its own key, ...)."""
    hot_routers: Sequence[APIRouter] = ()
    """Public routers of high-volume machine traffic (terminal protocols), matched before every
    other route: FastAPI tries routes one by one, a few microseconds each."""
    admin_views: Sequence[type] = ()
    migrations_dir: Path | None = None
    """Folder of this app's Alembic branch; its first revision carries ``branch_labels=(name,)``."""
    models_module: str | None = None
    """Imported before migrations or autogenerate so the tables are on the metadata."""
    demo: DemoHook | None = None
    cli: typer.Typer | None = None
    on_startup: Sequence[Callable[[FastAPI], Awaitable[None]]] = ()
    on_shutdown: Sequence[Callable[[FastAPI], Awaitable[None]]] = ()
    jobs_module: str | None = None
    """Imported by ``basis worker`` and by the server so the app's job functions are registered."""
    extra: dict[str, Any] = field(default_factory=dict)


# name -> "module:attribute" of its AppSpec; imported only when enabled.
KNOWN_APPS: dict[str, str] = {
    "timetracker": "basis.apps.timetracker.app:spec",
    "warehouse": "basis.apps.warehouse.app:spec",
}


def load_spec(ref: str) -> AppSpec:
    import importlib

    module_name, _, attr = ref.partition(":")
    spec = getattr(importlib.import_module(module_name), attr)
    if not isinstance(spec, AppSpec):
        raise TypeError(f"{ref} is not an AppSpec")
    return spec


class UnknownApp(ValueError):
    pass


def enabled_specs(
    names: Sequence[str] | None, available: dict[str, str | AppSpec] | None = None
) -> list[AppSpec]:
    """The specs of the enabled apps; ``None`` means every known app."""
    available = dict(KNOWN_APPS if available is None else available)
    chosen = list(available) if names is None else list(names)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise UnknownApp(
            f"unknown app(s) in BASIS_APPS: {', '.join(unknown)}; known: {', '.join(available) or 'none'}"
        )
    specs = []
    for name in chosen:
        ref = available[name]
        specs.append(ref if isinstance(ref, AppSpec) else load_spec(ref))
    return specs
