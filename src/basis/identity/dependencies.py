"""Request-level helpers of identity: the caller's metadata, origins, the refresh cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from basis.core.db import get_or_404
from basis.core.deps import ClientIP, SessionDep
from basis.core.errors import Forbidden, NotFound
from basis.core.net import peer_is_trusted
from basis.core.types import Id
from basis.identity.events import Meta
from basis.identity.models import User
from basis.settings import Settings, host_name

COOKIE_PATH = "/auth"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def allowed_origins(settings: Settings) -> frozenset[str]:
    return frozenset({origin_of(settings.public_url), *(origin_of(o) for o in settings.cors_origins)})


def own_origin(conn: HTTPConnection, settings: Settings) -> str | None:
    """The origin the browser is on when it reached this server by one of the host names it
    serves (``http://127.0.0.1:8000`` as well as the public URL), else None. The scheme is the
    connection's, or a trusted proxy's ``X-Forwarded-Proto``."""
    host = conn.headers.get("host", "")
    if not host or host_name(host) not in settings.served_hosts:
        return None
    scheme = conn.url.scheme
    forwarded = conn.headers.get("x-forwarded-proto")
    if forwarded and peer_is_trusted(conn, tuple(settings.trusted_proxies)):
        scheme = forwarded.split(",")[0].strip().lower()
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return origin_of(f"{scheme}://{host}")


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """CSRF defence for cookie-based calls: no Origin (curl, native apps), an allowed one (the
    public URL's, ``BASIS_CORS_ORIGINS``), or the very origin of a host this server serves."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    given = origin_of(origin)
    return given in allowed_origins(settings) or given == own_origin(conn, settings)


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
