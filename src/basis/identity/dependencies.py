"""Request-level helpers of identity: the caller's metadata, origins, the refresh cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from basis.core.db import get_or_404
from basis.core.deps import ClientIP, SessionDep
from basis.core.errors import Forbidden, NotFound
from basis.core.types import Id
from basis.identity.events import Meta
from basis.identity.models import User
from basis.settings import Settings

COOKIE_PATH = "/auth"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def allowed_origins(settings: Settings) -> frozenset[str]:
    return frozenset({origin_of(settings.public_url), *(origin_of(o) for o in settings.cors_origins)})


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """CSRF defence for cookie-based calls: no Origin (curl, native apps) or an allowed one."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    return origin_of(origin) in allowed_origins(settings) if origin != "null" else False


def check_origin(conn: HTTPConnection, settings: Settings) -> None:
    if not origin_allowed(conn, settings):
        raise Forbidden("Origin not allowed", code="origin_not_allowed")


def refresh_cookie_name(settings: Settings) -> str:
    return "__Secure-basis_refresh" if settings.is_https else "basis_refresh"


async def request_meta(request: Request, ip: ClientIP) -> Meta:
    return Meta(ip=ip, user_agent=request.headers.get("user-agent"))


RequestMeta = Annotated[Meta, Depends(request_meta)]


async def valid_user_id(user_id: Id, session: SessionDep) -> User:
    return await get_or_404(session, User, user_id, NotFound("User not found", code="not_found"))


ValidUser = Annotated[User, Depends(valid_user_id)]
