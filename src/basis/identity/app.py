"""The identity part as the core sees it."""

from __future__ import annotations

from fastapi import FastAPI

from basis.core.apps import AppSpec
from basis.identity import passwords
from basis.identity.admin import IDENTITY_VIEWS, bind_admin
from basis.identity.router import auth_router, public_router, users_router
from basis.identity.users import bootstrap_admin


async def _bootstrap_first_admin(app: FastAPI) -> None:
    await passwords.prepare(app.state.settings.password_hash_profile)
    async with app.state.db.sessionmaker() as session:
        await bootstrap_admin(session=session, settings=app.state.settings)


# The command line group `basis users` is added by basis.cli from basis.identity.cli.app.
spec = AppSpec(
    name="identity",
    routers=[auth_router, users_router],
    public_routers=[public_router],
    admin_views=IDENTITY_VIEWS,
    migrations_dir=None,
    models_module="basis.identity.models",
    on_startup=[bind_admin, _bootstrap_first_admin],
    jobs_module="basis.identity.jobs",
)
