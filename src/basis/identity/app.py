"""The identity part as the core sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from basis.core.apps import AppSpec
from basis.core.db import Database
from basis.core.infra import Infra
from basis.identity import authcache, passwords
from basis.identity.admin import IDENTITY_VIEWS, bind_admin
from basis.identity.reset_page import page_router
from basis.identity.router import auth_router, public_router, users_router
from basis.identity.users import bootstrap_admin
from basis.settings import Settings


async def _bootstrap_first_admin(app: FastAPI) -> None:
    await passwords.prepare(app.state.settings.password_hash_profile)
    async with app.state.db.sessionmaker() as session:
        await bootstrap_admin(session=session, settings=app.state.settings)


def _version(settings, redis) -> authcache.Version:  # type: ignore[no-untyped-def]
    # Without Redis the only other processes are command-line ones: they touch a stamp file.
    stamp = None if redis is not None else authcache.stamp_path(settings.data_dir)
    return authcache.Version(redis=redis, stamp=stamp)


async def _start_auth_cache(app: FastAPI) -> None:
    settings, infra = app.state.settings, app.state.infra
    version = _version(settings, infra.redis)
    cache = authcache.AuthCache(version, ttl_seconds=settings.auth_cache_seconds)
    app.state.auth_cache = cache
    app.state.auth_notifier = authcache.Notifier(version=version, cache=cache, hub=infra.hub)
    authcache.register(app.state.db.engine.sync_engine, app.state.auth_notifier)


@asynccontextmanager
async def _auth_notices_in_worker(settings: Settings, db: Database, infra: Infra) -> AsyncIterator[None]:
    # A job that deactivates an account or ends a session reaches every server's cache and
    # open sockets, as a change made through a server or the command line does.
    notifier = authcache.Notifier(version=_version(settings, infra.redis), cache=None, hub=infra.hub)
    authcache.register(db.engine.sync_engine, notifier)
    try:
        yield
    finally:
        authcache.unregister(db.engine.sync_engine, notifier)


async def _stop_auth_cache(app: FastAPI) -> None:
    notifier = getattr(app.state, "auth_notifier", None)
    if notifier is not None:
        authcache.unregister(app.state.db.engine.sync_engine, notifier)


# The command line group `basis users` is added by basis.cli from basis.identity.cli.app.
spec = AppSpec(
    name="identity",
    routers=[auth_router, users_router],
    public_routers=[public_router, page_router],
    admin_views=IDENTITY_VIEWS,
    migrations_dir=None,
    models_module="basis.identity.models",
    on_startup=[bind_admin, _start_auth_cache, _bootstrap_first_admin],
    on_shutdown=[_stop_auth_cache],
    jobs_module="basis.identity.jobs",
    in_worker=_auth_notices_in_worker,
)
