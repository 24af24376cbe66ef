"""Annotated dependencies every router uses.

Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop per request for nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.infra import Infra
from basis.core.net import client_ip
from basis.settings import Settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.sessionmaker() as session:
        yield session


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_infra(request: Request) -> Infra:
    return request.app.state.infra


async def get_client_ip(request: Request) -> str:
    return client_ip(request, tuple(request.app.state.settings.trusted_proxies))


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
InfraDep = Annotated[Infra, Depends(get_infra)]
ClientIP = Annotated[str, Depends(get_client_ip)]
