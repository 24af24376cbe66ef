"""Who is calling: the access token checked, its session alive, the user as the record has it.

``CurrentUser`` / ``OperatorUser`` / ``AdminUser`` resolve to the ``User`` row. The role comes
from that row, never from the token, so a role change or a deactivation applies to the very next
request. The row and the session's liveness come from the process's ``AuthCache`` when it
remembers them (no database round trip) and from one query otherwise; the cache is invalidated
in every process when a change commits (``basis.identity.authcache``).

Dependencies here take no database session: a request turned away (401) never opens one, and a
route that needs one gets the caller's row attached to its own session (``core.deps``), so a
service may change it and commit as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from basis.core.deps import attach_to_session, request_session
from basis.core.errors import Forbidden, Unauthorized
from basis.identity.authcache import AuthCache, detached_user, user_values
from basis.identity.models import RefreshToken, User
from basis.identity.tokens import AccessClaims, InvalidToken, TokenCodec

ROLE_RANK = {"user": 0, "operator": 1, "admin": 2}

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")
BEARER_SCHEME = _bearer.scheme_name
"""The access token's security scheme in the OpenAPI document."""


def codec_for(conn: HTTPConnection) -> TokenCodec:
    state = conn.app.state
    codec = getattr(state, "identity_codec", None)
    if codec is None:
        settings = state.settings
        codec = TokenCodec(
            settings.signing_secrets,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_minutes=settings.access_token_minutes,
        )
        state.identity_codec = codec
    return codec


def _invalid() -> Unauthorized:
    return Unauthorized("Invalid or expired token", code="invalid_token")


async def read_session_user(session: AsyncSession, user_id: int, sid: str) -> User | None:
    """The active user whose session ``sid`` is alive, from the database (one query)."""
    alive = exists().where(
        RefreshToken.family_id == sid, RefreshToken.user_id == User.id, RefreshToken.is_revoked.is_(False)
    )
    stmt = select(User).where(User.id == user_id, User.is_active.is_(True), alive)
    return (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()


async def resolve_token(conn: HTTPConnection, token: str) -> tuple[User, AccessClaims]:
    """The active user behind an access token, detached from any session, or ``Unauthorized``."""
    try:
        claims = codec_for(conn).decode_access(token)
    except InvalidToken:
        raise _invalid() from None
    state = conn.app.state
    cache: AuthCache | None = getattr(state, "auth_cache", None)
    ticket = None
    if cache is not None:
        values, ticket = await cache.lookup(claims.sid, claims.user_id)
        if values is not None:
            return detached_user(values), claims
    async with state.db.sessionmaker() as session:
        user = await read_session_user(session, claims.user_id, claims.sid)
        if user is None:
            raise _invalid()
        values = user_values(user)
    if cache is not None:
        cache.put(ticket, claims.sid, values)
    return detached_user(values), claims


async def authenticate_token(
    conn: HTTPConnection, session: AsyncSession, token: str
) -> tuple[User, AccessClaims]:
    """``resolve_token`` with the user attached to ``session``. Also for WebSocket handshakes."""
    user, claims = await resolve_token(conn, token)
    return attach_to_session(session, user), claims


async def require_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The caller of every authenticated route. One dependency level above the bearer scheme
    (which documents it): FastAPI's resolution of each level costs the request more than the
    token check itself."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Not authenticated")
    return await _caller(request, credentials.credentials)


async def _caller(request: Request, token: str) -> User:
    user, claims = await resolve_token(request, token)
    state = request.state
    state.user = user = attach_to_session(request_session(request), user, request=request)
    state.claims = claims
    return user


def _rank_at_least(user: User, minimum: int) -> None:
    if ROLE_RANK.get(user.role, -1) < minimum:
        raise Forbidden("Not enough permissions", code="forbidden")


async def caller_with_role(request: Request, role: str) -> User:
    """``require_role(role)`` for a hot route that reads its caller by hand, without FastAPI's
    dependency machinery (which costs a small request more than the rest of it): the same
    bearer parsing, the same 401 and 403. Its route documents the scheme with
    ``BEARER_SCHEME`` in ``core.http.documented_body``."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not credentials:
        raise Unauthorized("Not authenticated")
    user = await _caller(request, credentials)
    _rank_at_least(user, ROLE_RANK[role])
    return user


async def require_claims(request: Request, _user: Annotated[User, Depends(require_user)]) -> AccessClaims:
    return request.state.claims  # type: ignore[no-any-return]


def require_role(*roles: str) -> Callable[..., Awaitable[User]]:
    """A dependency admitting the weakest of ``roles`` and every stronger one (admin > operator > user)."""
    unknown = [r for r in roles if r not in ROLE_RANK]
    if not roles or unknown:
        raise ValueError(f"unknown role(s): {unknown or roles}")
    minimum = min(ROLE_RANK[r] for r in roles)

    async def dependency(user: Annotated[User, Depends(require_user)]) -> User:
        _rank_at_least(user, minimum)
        return user

    dependency.__name__ = f"require_role_{'_'.join(roles)}"
    return dependency


CurrentUser = Annotated[User, Depends(require_user)]
OperatorUser = Annotated[User, Depends(require_role("operator"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
CurrentClaims = Annotated[AccessClaims, Depends(require_claims)]
