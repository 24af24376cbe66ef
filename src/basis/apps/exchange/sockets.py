"""The chat socket of one exchange: ``/ws/exchange/{exchange_id}?token=``, participants only.

Messages reach every socket of the exchange's participants in every process through the core
hub; the guard closes the socket when the caller's session ends (logout, ban, deactivation).
"""

from __future__ import annotations

from typing import Any

from fastapi import WebSocket
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from basis.apps.exchange import chat, notify
from basis.core.errors import BasisError
from basis.core.realtime.sockets import Socket, SocketRefused, serve_socket
from basis.core.types import is_storable
from basis.identity.sockets import AccessGuard, SocketUser

CLOSE_INVALID = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class ExchangeGuard:
    """An access token, then a participant of this exchange."""

    def __init__(self, exchange_id: str) -> None:
        self.exchange_id = exchange_id
        self._access = AccessGuard(invalid_code=CLOSE_INVALID, forbidden_code=CLOSE_FORBIDDEN)

    async def admit(self, conn: HTTPConnection, token: str) -> SocketUser:
        principal = await self._access.admit(conn, token)
        if len(self.exchange_id) > 64 or not is_storable(self.exchange_id):
            raise SocketRefused(CLOSE_NOT_FOUND, "Exchange not found")
        async with conn.app.state.db.sessionmaker() as session:
            try:
                await chat.participants(session, self.exchange_id, principal.user_id)
            except BasisError as error:
                code = CLOSE_NOT_FOUND if error.status_code == 404 else CLOSE_FORBIDDEN
                raise SocketRefused(code, str(error.detail)) from None
        return principal

    def watch(self, principal: SocketUser) -> list[str]:
        return self._access.watch(principal)

    async def review(self, principal: SocketUser, message: dict[str, Any] | None) -> None:
        await self._access.review(principal, message)


def _for_reader(socket: Socket[Any], topic: str, message: dict[str, Any]) -> dict[str, Any]:
    if message.get("type") != "message":
        return message
    body = dict(message["message"])
    body["is_read"] = body["sender_id"] == socket.principal.user_id
    return {"type": "message", "message": body}


async def publish_message(
    websocket_app: Any, message: dict[str, Any], members: list[int], sender_name: str
) -> None:
    hub = websocket_app.state.infra.hub
    if not await notify.push(
        hub, notify.chat_topic(message["exchange_id"]), {"type": "message", "message": message}
    ):
        return
    for user_id in members:
        if user_id != message["sender_id"]:
            await notify.push(
                hub,
                notify.user_topic(user_id),
                {
                    "type": "message_received",
                    "exchange_id": message["exchange_id"],
                    "sender_id": message["sender_id"],
                    "sender_name": sender_name,
                    "preview": message["message_text"][:100],
                },
            )


async def send_and_publish(
    session: AsyncSession, app: Any, *, exchange_id: str, sender_id: int, text: Any, message_type: Any
) -> dict[str, Any]:
    """Stores and commits a message, then fans it out (HTTP and socket alike)."""
    message, members = await chat.send(
        session, exchange_id=exchange_id, sender_id=sender_id, text=text, message_type=message_type
    )
    name = await chat.sender_name(session, sender_id)
    await session.commit()
    body = chat.public(message, sender_id, 0)
    await publish_message(app, body, members, name)
    return body


async def serve(websocket: WebSocket, exchange_id: str) -> None:
    async def on_frame(socket: Socket[SocketUser], frame: Any) -> None:
        if not isinstance(frame, dict) or frame.get("type") != "message":
            await socket.send({"type": "error", "code": "unknown_frame"})
            return
        try:
            async with websocket.app.state.db.sessionmaker() as session:
                await send_and_publish(
                    session,
                    websocket.app,
                    exchange_id=exchange_id,
                    sender_id=socket.principal.user_id,
                    text=frame.get("text"),
                    message_type=frame.get("message_type", "text"),
                )
        except BasisError as error:
            await socket.send({"type": "error", "code": error.code})

    await serve_socket(
        websocket,
        hub=websocket.app.state.infra.hub,
        guard=ExchangeGuard(exchange_id),
        topics=[notify.chat_topic(exchange_id)],
        allow_query_token=True,
        missing_token_code=CLOSE_INVALID,
        on_frame=on_frame,
        transform=_for_reader,
    )
