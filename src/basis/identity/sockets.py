"""The socket guard for access tokens: who may open a socket, and when it must close.

``AccessGuard(roles=("operator",))`` admits a handshake whose access token is valid, whose
session is alive and whose user holds the role; it then watches ``identity:auth`` (published
after every commit that changes a user or ends a session, in any process) and reviews the
caller against the database when a message names their user or session, plus periodically (see
``basis.core.realtime.sockets``). A revoked session or a deactivated user closes the socket with
4401; a role taken away closes it with ``forbidden_code`` (1008 by default; 4403 where a client
expects it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from basis.core.errors import BasisError
from basis.core.realtime.sockets import CLOSE_POLICY, CLOSE_SESSION_ENDED, SocketRefused
from basis.identity.authcache import AUTH_TOPIC
from basis.identity.deps import ROLE_RANK, read_session_user, resolve_token


@dataclass(frozen=True, slots=True)
class SocketUser:
    user_id: int
    sid: str
    role: str
    name: str
    sessionmaker: Any = field(repr=False, compare=False)
    """The serving app's, for reviews (one process may serve several apps in tests)."""


class AccessGuard:
    def __init__(
        self,
        *,
        roles: tuple[str, ...] = (),
        invalid_code: int = CLOSE_POLICY,
        forbidden_code: int = CLOSE_POLICY,
    ) -> None:
        unknown = [r for r in roles if r not in ROLE_RANK]
        if unknown:
            raise ValueError(f"unknown role(s): {unknown}")
        self._minimum = min((ROLE_RANK[r] for r in roles), default=0)
        self._invalid_code = invalid_code
        self._forbidden_code = forbidden_code

    def _allowed(self, role: str) -> bool:
        return ROLE_RANK.get(role, -1) >= self._minimum

    async def admit(self, conn: HTTPConnection, token: str) -> SocketUser:
        try:
            user, claims = await resolve_token(conn, token)
        except BasisError:
            raise SocketRefused(self._invalid_code, "a valid access token is required") from None
        if not self._allowed(user.role):
            raise SocketRefused(self._forbidden_code, "your role does not allow this feed")
        return SocketUser(user.id, claims.sid, user.role, str(user), conn.app.state.db.sessionmaker)

    def watch(self, principal: SocketUser) -> list[str]:
        return [AUTH_TOPIC]

    async def review(self, principal: SocketUser, message: dict[str, Any] | None) -> None:
        if message is not None:
            if principal.sid in message.get("sids", ()):
                raise SocketRefused(CLOSE_SESSION_ENDED, "your session has ended")
            if principal.user_id not in message.get("users", ()):
                return  # about somebody else
        async with principal.sessionmaker() as session:
            user = await read_session_user(session, principal.user_id, principal.sid)
            role = user.role if user is not None else None
        if role is None:
            raise SocketRefused(CLOSE_SESSION_ENDED, "your session has ended")
        if not self._allowed(role):
            raise SocketRefused(self._forbidden_code, "your role no longer allows this feed")
