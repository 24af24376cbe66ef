"""Annotated dependencies every router uses.

Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop per request for nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core import outage
from basis.core.infra import Infra
from basis.core.net import client_ip
from basis.settings import Settings

T = TypeVar("T")


_SESSION = "basis.db_session"
_WAITING = "basis.session_rows"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session. Rows a dependency resolved before it (the caller's user, from a
    cache) are attached to it, so a service can change them and commit."""
    session: AsyncSession = request.app.state.db.sessionmaker()
    scope = request.scope
    scope[_SESSION] = session
    for row in scope.get(_WAITING, ()):
        attach_to_session(session, row)
    try:
        yield session
    finally:
        # A session that never began a transaction holds no connection: nothing to close.
        if session.in_transaction() or session.sync_session.identity_map:
            try:
                await session.close()
            except outage.HANDLED as error:
                # The connection died under the session (an outage): the pool drops it and the
                # answer, often already sent, stands. One line per outage, not a traceback.
                outage.OUTAGES.failed(error, "closing a request's session")


def request_session(request: Any) -> AsyncSession | None:
    """The session ``get_session`` opened for this request, if it did."""
    return request.scope.get(_SESSION)  # type: ignore[no-any-return]


def attach_to_session(session: AsyncSession | None, row: T, *, request: Any = None) -> T:
    """``row`` (detached, loaded state) as a persistent row of ``session``, without a query.

    With no session yet, the row waits on ``request`` until ``get_session`` opens one."""
    if session is None:
        if request is not None:
            request.scope.setdefault(_WAITING, []).append(row)
        return row
    key = inspect(row).key
    present = session.sync_session.identity_map.get(key) if key is not None else None
    if present is not None:
        return present  # type: ignore[no-any-return]
    session.add(row)
    return row


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
