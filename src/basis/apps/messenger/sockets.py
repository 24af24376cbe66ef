"""``WS /ws?token=``: the original's socket protocol on the core socket pump.

The pump authenticates the handshake, forwards every event published on the user's topic,
and closes the socket when the session ends. Here: the client's events, presence, and the
error event that answers a refused client event (the socket stays open)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError

from basis.apps.messenger import chats, events, flows, messages
from basis.apps.messenger.schemas import MessageCreate
from basis.core import outage
from basis.core.errors import BasisError
from basis.core.logging import get_logger
from basis.core.realtime.sockets import Socket, serve_socket
from basis.core.types import MAX_ID
from basis.identity.sockets import AccessGuard, SocketUser

log = get_logger("basis.messenger.sockets")
socket_router = APIRouter(tags=["messenger socket"])
GUARD = AccessGuard()


class EventError(Exception):
    def __init__(self, status: int, code: str, detail: Any) -> None:
        super().__init__(str(detail))
        self.status = status
        self.code = code
        self.detail = detail


def _chat_id(frame: dict[str, Any], *, required: bool = True) -> int | None:
    value = frame.get("conversation_id", frame.get("chat_id"))
    if value is None:
        if required:
            raise EventError(422, "validation_error", "conversation_id (or chat_id) is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventError(422, "validation_error", "conversation_id must be an integer")
    if not 1 <= value <= MAX_ID:
        raise EventError(404, "not_found", "Chat not found")
    return value


def _message_id(frame: dict[str, Any]) -> int:
    value = frame.get("message_id")
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        raise EventError(422, "validation_error", "message_id must be an integer")
    if not 1 <= value <= MAX_ID:
        raise EventError(404, "not_found", "Message not found")
    return value


def _context(socket: Socket[SocketUser], session: Any) -> flows.Context:
    app = socket.websocket.app
    return flows.Context(
        session=session,
        infra=app.state.infra,
        settings=app.state.settings,
        presence=app.state.messenger_presence,
    )


async def _send(ctx: flows.Context, socket: Socket[SocketUser], frame: dict[str, Any]) -> None:
    chat_id = _chat_id(frame)
    assert chat_id is not None
    try:
        data = MessageCreate.model_validate(
            {k: frame[k] for k in ("text", "temp_id", "attachments") if k in frame and frame[k] is not None}
        )
    except ValidationError as error:
        problems = [
            {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]}
            for e in error.errors(include_url=False, include_input=False)
        ]
        raise EventError(422, "validation_error", problems) from None

    async def acknowledge(body: dict[str, Any]) -> None:
        await socket.send({"type": "message_sent", "temp_id": data.temp_id, "message": body})

    await flows.send_message(
        ctx, sender_id=socket.principal.user_id, chat_id=chat_id, data=data, acknowledge=acknowledge
    )


async def _receipt(ctx: flows.Context, socket: Socket[SocketUser], frame: dict[str, Any], kind: str) -> None:
    message_id = _message_id(frame)
    chat_id = _chat_id(frame, required=False)
    if chat_id is None:
        chat_id = await messages.chat_of_message(ctx.session, message_id)
    step = flows.read if kind == "read" else flows.delivered
    await step(ctx, user_id=socket.principal.user_id, chat_id=chat_id, message_id=message_id)


async def _typing(
    ctx: flows.Context, socket: Socket[SocketUser], frame: dict[str, Any], is_typing: bool
) -> None:
    chat_id = _chat_id(frame)
    assert chat_id is not None
    await flows.typing(ctx, user_id=socket.principal.user_id, chat_id=chat_id, is_typing=is_typing)


async def _dispatch(ctx: flows.Context, socket: Socket[SocketUser], frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    if kind == "send_message":
        await _send(ctx, socket, frame)
    elif kind in ("read", "delivered"):
        await _receipt(ctx, socket, frame, kind)
    elif kind in ("typing_start", "typing_stop"):
        await _typing(ctx, socket, frame, kind == "typing_start")
    else:
        raise EventError(400, "unknown_event", f"Unknown event type {kind!r}")


def _error(status: int, code: str, detail: Any, temp_id: Any) -> dict[str, Any]:
    event = {"type": "error", "status": status, "code": code, "detail": detail}
    if isinstance(temp_id, str):
        event["temp_id"] = temp_id
    return event


async def on_frame(socket: Socket[SocketUser], frame: Any) -> None:
    if not isinstance(frame, dict):
        await socket.send(_error(400, "bad_request", "An event is a JSON object with a type", None))
        return
    temp_id = frame.get("temp_id")
    sessionmaker = socket.websocket.app.state.db.sessionmaker
    try:
        async with sessionmaker() as session:
            await _dispatch(_context(socket, session), socket, frame)
    except EventError as error:
        await socket.send(_error(error.status, error.code, error.detail, temp_id))
    except BasisError as error:
        await socket.send(_error(error.status_code, error.code, error.detail, temp_id))
    except outage.HANDLED as error:
        # The database or Redis is away: nothing was acknowledged, the client resends the same
        # temp_id later (as REST's 503 with Retry-After); one log line per outage, not per event.
        outage.OUTAGES.failed(error, f"ws {str(frame.get('type'))[:50]}")
        event = _error(503, "unavailable", "A service is unavailable just now; send again shortly", temp_id)
        await socket.send({**event, "retry_after": outage.RETRY_AFTER_SECONDS})
    except Exception:  # one bad event never ends the socket
        log.exception("messenger socket event failed", type=str(frame.get("type"))[:50])
        await socket.send(_error(500, "internal_error", "The event could not be handled", temp_id))


async def _tell_contacts(socket: Socket[SocketUser], online: bool) -> None:
    app = socket.websocket.app
    user_id = socket.principal.user_id
    async with app.state.db.sessionmaker() as session:
        contacts = await chats.contacts_of(session, user_id)
    await events.to_users(
        app.state.infra.hub, contacts, {"type": "presence", "user_id": user_id, "online": online}
    )


async def on_open(socket: Socket[SocketUser]) -> None:
    socket.state["id"] = uuid.uuid4().hex
    if await socket.websocket.app.state.messenger_presence.opened(
        socket.principal.user_id, socket.state["id"]
    ):
        await _tell_contacts(socket, True)


async def on_close(socket: Socket[SocketUser]) -> None:
    try:
        if await socket.websocket.app.state.messenger_presence.closed(
            socket.principal.user_id, socket.state["id"]
        ):
            await _tell_contacts(socket, False)
    except Exception as error:  # the socket is gone either way
        log.warning("messenger presence not updated on close", error=str(error))


@socket_router.websocket("/ws")
async def messenger_socket(websocket: WebSocket) -> None:
    await serve_socket(
        websocket,
        hub=websocket.app.state.infra.hub,
        guard=GUARD,
        topics=lambda user: [events.user_topic(user.user_id)],
        allow_query_token=True,
        on_frame=on_frame,
        on_open=on_open,
        on_close=on_close,
    )
