"""What an app gives the core: one small object, found through the ``basis.apps`` entry points.

An installed distribution declares its app in its metadata::

    [project.entry-points."basis.apps"]
    timetracker = "basis.apps.timetracker.app:spec"

The registry reads those names without importing anything; an app's module is imported only
when the app is enabled. Order is the apps' names sorted, so routes, admin views, start-up hooks
and migration branches come in the same order on every machine.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from basis.settings import AppSettings, Settings, env_prefix

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI

ENTRY_POINT_GROUP = "basis.apps"

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
    """Public routers of high-volume machine traffic (terminal protocols, stock movements),
    matched before every other route: FastAPI tries routes one by one, a few microseconds each.
    A route whose endpoint reads its own request is served by Starlette alone
    (``core.http.include_hot``)."""
    admin_views: Sequence[type] = ()
    migrations_dir: Path | None = None
    """Folder of this app's Alembic branch; its first revision carries ``branch_labels=(name,)``."""
    models_module: str | None = None
    """Imported before migrations or autogenerate so the tables are on the metadata."""
    demo: DemoHook | None = None
    cli: typer.Typer | None = None
    on_startup: Sequence[Callable[[FastAPI], Awaitable[None]]] = ()
    on_shutdown: Sequence[Callable[[FastAPI], Awaitable[None]]] = ()
    own_body_limit: Sequence[tuple[str, str]] = ()
    """(method, path prefix) pairs whose routes limit their request bodies themselves while
    they stream (an upload larger than ``BASIS_MAX_BODY_BYTES``): exempt from the edge's limit."""
    jobs_module: str | None = None
    """Imported by ``basis worker`` and by the server so the app's job functions are registered."""
    in_worker: Callable[[Any, Any, Any], AbstractAsyncContextManager[None]] | None = None
    """Entered by ``basis worker`` around its whole run with ``(settings, db, infra)``: what the
    app's jobs need set up in a process that serves no requests."""
    settings: type[AppSettings] | None = None
    """The app's own settings class, env prefix ``BASIS_<NAME>_``; app code reads it with
    ``settings.app(ThatClass)``."""
    extra: dict[str, Any] = field(default_factory=dict)


AppRef = str | EntryPoint | AppSpec
"""Where an app's spec is: ``"module:attribute"``, an entry point, or the spec itself."""


class UnknownApp(ValueError):
    pass


class BrokenApp(RuntimeError):
    """An installed app that cannot be loaded: a clear line instead of a deep traceback."""


def discovered_apps() -> dict[str, EntryPoint]:
    """Name -> entry point of every app installed in this environment, sorted by name."""
    # Reading every distribution's metadata takes tens of milliseconds, and start-up asks more
    # than once; what is installed changes only with the import path.
    return dict(_discover(tuple(sys.path)))


@functools.lru_cache(maxsize=8)
def _discover(path: tuple[str, ...]) -> dict[str, EntryPoint]:  # `path`: the cache key
    found: dict[str, EntryPoint] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        other = found.get(point.name)
        if other is not None and other.value != point.value:
            raise BrokenApp(
                f"two installed apps are called {point.name!r}: {other.value} and {point.value}; "
                "uninstall one of them"
            )
        found[point.name] = point
    return dict(sorted(found.items()))


def load_spec(ref: AppRef, name: str | None = None) -> AppSpec:
    if isinstance(ref, AppSpec):
        spec = ref
    else:
        point = ref if isinstance(ref, EntryPoint) else EntryPoint(name or ref, ref, ENTRY_POINT_GROUP)
        try:
            spec = point.load()
        except (ImportError, AttributeError) as exc:
            raise BrokenApp(f"app {point.name!r} ({point.value}) cannot be loaded: {exc}") from exc
        if not isinstance(spec, AppSpec):
            raise BrokenApp(f"app {point.name!r}: {point.value} is not an AppSpec")
    _check(spec, name)
    return spec


def _check(spec: AppSpec, name: str | None) -> None:
    if name is not None and spec.name != name:
        raise BrokenApp(f"the app registered as {name!r} calls itself {spec.name!r}: the names must match")
    if spec.settings is None:
        return
    want = f"BASIS_{spec.name.upper()}_"
    if not issubclass(spec.settings, AppSettings) or env_prefix(spec.settings) != want:
        raise BrokenApp(
            f"app {spec.name!r}: its settings class must subclass basis.settings.AppSettings "
            f"with env_prefix={want!r}"
        )


def enabled_specs(
    names: Sequence[str] | None, available: Mapping[str, AppRef] | None = None
) -> list[AppSpec]:
    """The specs of the enabled apps; ``None`` means every available app.

    ``available`` defaults to the installed apps (``basis.apps`` entry points); tests pass their
    own. Only the chosen apps are imported."""
    known: Mapping[str, AppRef] = discovered_apps() if available is None else available
    chosen = list(known) if names is None else list(dict.fromkeys(names))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise UnknownApp(
            f"unknown app(s) in BASIS_APPS: {', '.join(unknown)}; known: {', '.join(known) or 'none'}"
        )
    return [load_spec(known[name], name) for name in chosen]


def check_settings(settings: Settings, specs: Sequence[AppSpec]) -> None:
    """Reads each enabled app's settings once, so a bad value stops start-up naming its variable
    (raises ``ValidationError``, as the core settings do)."""
    for spec in specs:
        if spec.settings is not None:
            settings.app(spec.settings)
