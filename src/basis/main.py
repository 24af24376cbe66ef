"""``create_app(settings)``: the core, identity and the enabled apps in one FastAPI app."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from basis import __version__
from basis.core import migrations
from basis.core.apps import AppRef, AppSpec, check_settings, enabled_specs
from basis.core.db import Database
from basis.core.http import (
    files_router,
    include_flat,
    include_hot,
    install_docs,
    install_error_handlers,
    literal_routes_first,
    ops_router,
)
from basis.core.infra import build_infra
from basis.core.logging import configure_logging, get_logger
from basis.core.middleware import EdgeMiddleware
from basis.core.storage import URL_PATH as FILES_PATH
from basis.identity import app as identity_app
from basis.identity.admin import mount_admin
from basis.identity.deps import require_user
from basis.settings import Settings

log = get_logger("basis")


class SchemaBehind(RuntimeError):
    pass


async def ensure_schema(
    settings: Settings, specs: Sequence[AppSpec], db: Database, known: Sequence[AppSpec]
) -> None:
    missing = await migrations.pending(settings.resolved_database_url, specs, known)
    if not missing:
        return
    if db.backend == "sqlite":
        import asyncio

        log.info("migrating", branches=missing)
        await asyncio.to_thread(migrations.upgrade, settings.resolved_database_url, specs, known)
        return
    raise SchemaBehind(
        f"the database schema is behind the code ({', '.join(missing)}): run `basis migrate` first"
    )


_FROZEN = False


def _freeze_startup_heap() -> None:
    """What start-up built (modules, routes, models, pools) lives as long as the process: out
    of the collector's sight, a full collection no longer walks all of it. Once per process,
    so that the apps a test run builds one after another are not frozen with it."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.collect()
        gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    available: Mapping[str, AppRef] | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    specs = enabled_specs(settings.apps, available)
    check_settings(settings, specs)
    known = enabled_specs(None, available)
    if configure_logs:
        configure_logging(json=settings.env == "prod", level=settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    all_specs = [identity_app.spec, *specs]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            echo=settings.db_echo,
            pre_ping=settings.db_pool_pre_ping,
        )
        app.state.db = db
        app.state.infra = build_infra(settings, db, specs=all_specs)
        try:
            await ensure_schema(settings, specs, db, known)
            await app.state.infra.start()
            for spec in all_specs:
                for hook in spec.on_startup:
                    await hook(app)
            _freeze_startup_heap()
            yield
        finally:
            for spec in reversed(all_specs):
                for hook in spec.on_shutdown:
                    await hook(app)
            await app.state.infra.close()
            await db.dispose()

    app = FastAPI(
        title="Basis",
        version=__version__,
        description="One backend for TimeTracker, Warehouse and the other Basis apps.",
        lifespan=lifespan,
        docs_url=None,  # served from the installed package below, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.specs = specs
    install_error_handlers(app)
    # Routes are tried in order: the ones hit most often (health, terminal scans) come first.
    include_flat(app, ops_router())
    for spec in all_specs:
        for router in spec.hot_routers:
            include_hot(app, router)
    authenticated = [Depends(require_user)]
    for spec in all_specs:
        for router in spec.public_routers:
            include_flat(app, router)
        for router in spec.routers:
            include_flat(app, router, authenticated)
    # Last: nothing else lives under /files/.
    include_flat(app, files_router())
    install_docs(app)
    mount_admin(app, settings, [view for spec in all_specs for view in spec.admin_views])
    for method, path, modules in literal_routes_first(app):
        # Two originals' clients use one path (the exchange's and the messenger's public
        # profiles): the app named first in BASIS_APPS answers it; enable one of them to choose.
        log.warning(
            "path served by more than one app",
            method=method,
            path=path,
            answered_by=modules[0],
            shadowed=modules[1:],
        )

    # Added last = outermost: the edge (request id, headers, limits, metrics), then CORS.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-Request-ID",
                "X-Terminal-Key",
            ],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
    # Signed uploads to the file route carry their own limit, enforced while the body streams.
    app.add_middleware(
        EdgeMiddleware,
        max_bytes=settings.max_body_bytes,
        https=settings.is_https,
        own_body_limit=(("PUT", FILES_PATH), *(pair for spec in all_specs for pair in spec.own_body_limit)),
        hosts=settings.served_hosts,
    )
    return app
