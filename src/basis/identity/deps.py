"""Who is calling: the access token checked, its session not revoked, the user read fresh.

``CurrentUser`` / ``OperatorUser`` / ``AdminUser`` resolve to the ``User`` row. The role comes
from that row (one primary-key query on the request's own session), never from the token, so a
role change or a deactivation applies to the very next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from basis.core.deps import SessionDep
from basis.core.errors import Forbidden, Unauthorized
from basis.identity import revocation
from basis.identity.models import User
from basis.identity.tokens import AccessClaims, InvalidToken, TokenCodec

ROLE_RANK = {"user": 0, "operator": 1, "admin": 2}

_bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login")


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


async def authenticate_token(
    conn: HTTPConnection, session: AsyncSession, token: str
) -> tuple[User, AccessClaims]:
    """The active user behind an access token, or ``Unauthorized``. Also for WebSocket handshakes."""
    try:
        claims = codec_for(conn).decode_access(token)
    except InvalidToken:
        raise _invalid() from None
    if await revocation.is_revoked(conn.app.state.infra.kv, claims.sid):
        raise _invalid()
    user = await session.get(User, claims.user_id, populate_existing=True)
    if user is None or not user.is_active:
        raise _invalid()
    return user, claims


async def websocket_user(websocket: WebSocket, session: AsyncSession) -> User:
    """The user of a WebSocket handshake: a Bearer header or ``?token=`` (an access token only).

    Browsers cannot set headers on a WebSocket, so this is the one place a token may travel in
    the query string; refresh tokens never do (they are not JWTs and fail here).
    """
    scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else websocket.query_params.get("token", "")
    if not token:
        raise Unauthorized("Not authenticated")
    user, _claims = await authenticate_token(websocket, session, token)
    return user


async def require_claims(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("Not authenticated")
    user, claims = await authenticate_token(request, session, credentials.credentials)
    request.state.user = user
    request.state.claims = claims
    return claims


async def require_user(request: Request, _claims: Annotated[AccessClaims, Depends(require_claims)]) -> User:
    return request.state.user


def require_role(*roles: str) -> Callable[..., Awaitable[User]]:
    """A dependency admitting the weakest of ``roles`` and every stronger one (admin > operator > user)."""
    unknown = [r for r in roles if r not in ROLE_RANK]
    if not roles or unknown:
        raise ValueError(f"unknown role(s): {unknown or roles}")
    minimum = min(ROLE_RANK[r] for r in roles)

    async def dependency(user: Annotated[User, Depends(require_user)]) -> User:
        if ROLE_RANK.get(user.role, -1) < minimum:
            raise Forbidden("Not enough permissions", code="forbidden")
        return user

    dependency.__name__ = f"require_role_{'_'.join(roles)}"
    return dependency


CurrentUser = Annotated[User, Depends(require_user)]
OperatorUser = Annotated[User, Depends(require_role("operator"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
CurrentClaims = Annotated[AccessClaims, Depends(require_claims)]
