"""The messenger app as the core sees it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from basis.apps.messenger import mail
from basis.apps.messenger.admin import VIEWS
from basis.apps.messenger.auth_router import public_router, users_router
from basis.apps.messenger.cli import cli
from basis.apps.messenger.demo import demo
from basis.apps.messenger.presence import build_presence
from basis.apps.messenger.router import router
from basis.apps.messenger.settings import MessengerSettings
from basis.apps.messenger.sockets import socket_router
from basis.core.apps import AppSpec


async def start(app: FastAPI) -> None:
    settings = app.state.settings.app(MessengerSettings)
    presence = build_presence(app.state.infra.redis, settings.presence_ttl_seconds)
    await presence.start()
    app.state.messenger_presence = presence
    mail.LOCAL_PRESENCE.append(presence)


async def stop(app: FastAPI) -> None:
    presence = getattr(app.state, "messenger_presence", None)
    if presence is not None:
        await presence.close()
        if presence in mail.LOCAL_PRESENCE:
            mail.LOCAL_PRESENCE.remove(presence)


spec = AppSpec(
    name="messenger",
    routers=[router, users_router],
    public_routers=[public_router, socket_router],
    admin_views=VIEWS,
    migrations_dir=Path(__file__).parent / "migrations",
    models_module="basis.apps.messenger.models",
    demo=demo,
    on_startup=[start],
    on_shutdown=[stop],
    jobs_module="basis.apps.messenger.mail",
    settings=MessengerSettings,
    cli=cli,
)
