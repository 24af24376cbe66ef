"""Serving a WebSocket or an event stream on the hub, for any app.

``serve_socket`` authenticates the handshake, subscribes the socket's topics, accepts, forwards
every message, hands the client's frames to the app, and closes the socket as soon as the
caller's right to listen ends. The right to listen is the ``SocketGuard``'s business (identity
provides the one for access tokens): it admits the handshake, names control topics on which it
hears about revocations, and reviews the caller again when a control message arrives, when the
hub may have missed messages, and every ``review_every`` seconds.

Where the token may come from: ``Authorization: Bearer`` (non-browser clients), the
``Sec-WebSocket-Protocol`` header as ``bearer, <token>`` (browsers, which cannot set headers on a
socket; the server answers with the ``bearer`` subprotocol), and ``?token=`` only where an
original client sends it that way (``allow_query_token``). The access log never records a query
string (``basis.core.logging`` strips it from uvicorn's socket lines).

Close codes: ``CLOSE_POLICY`` (1008) for a handshake without a valid token or a caller whose
role no longer allows the feed, ``CLOSE_SESSION_ENDED`` (4401) once the caller's session is
revoked or the account deactivated, ``CLOSE_FORBIDDEN`` (4403) for apps whose clients expect it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from starlette.requests import HTTPConnection
from starlette.responses import StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from basis.core.logging import get_logger
from basis.core.realtime import Hub, Subscription, SubscriptionClosed

log = get_logger("basis.realtime")

CLOSE_POLICY = 1008
CLOSE_SESSION_ENDED = 4401
CLOSE_FORBIDDEN = 4403
BEARER_SUBPROTOCOL = "bearer"
REVIEW_EVERY = 30.0
"""Seconds between reviews without a control message: bounds what a missed message can cost."""
MAX_FRAME_BYTES = 64 * 1024

P = TypeVar("P")


class SocketRefused(Exception):
    """The caller may not (or may no longer) listen: the socket closes with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SocketGuard(Protocol[P]):
    async def admit(self, conn: HTTPConnection, token: str) -> P:
        """The caller behind ``token``; ``SocketRefused`` when it may not listen."""
        ...

    def watch(self, principal: P) -> list[str]:
        """Control topics: a message there makes the socket ``review`` its caller."""
        ...

    async def review(self, principal: P, message: dict[str, Any] | None) -> None:
        """Raise ``SocketRefused`` when the caller lost the right to listen. ``message`` is the
        control message that prompted the review, or None for a periodic one."""
        ...


@dataclass(frozen=True, slots=True)
class SocketToken:
    value: str | None
    subprotocol: str | None = None
    """The subprotocol to answer with when the token came in ``Sec-WebSocket-Protocol``."""


def socket_token(conn: HTTPConnection, *, allow_query: bool = False) -> SocketToken:
    scheme, _, value = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return SocketToken(value.strip())
    offered = [p.strip() for p in conn.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(offered) >= 2 and offered[0].lower() == BEARER_SUBPROTOCOL:
        return SocketToken(offered[1], offered[0])
    if allow_query:
        token = conn.query_params.get("token", "").strip()
        if token:
            return SocketToken(token)
    return SocketToken(None)


@dataclass(slots=True)
class Socket(Generic[P]):
    """What an app's callbacks get: the connection, its caller and its subscription."""

    websocket: WebSocket
    principal: P
    subscription: Subscription
    state: dict[str, Any] = field(default_factory=dict)

    async def send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_text(json.dumps(message, separators=(",", ":"), ensure_ascii=False))


Transform = Callable[[Socket[Any], str, dict[str, Any]], dict[str, Any] | None]
FrameHandler = Callable[[Socket[Any], Any], Awaitable[None]]
Hook = Callable[[Socket[Any]], Awaitable[None]]


async def _refuse(websocket: WebSocket, refused: SocketRefused) -> None:
    # Accept first so the client sees the code and the reason, not a bare HTTP 403.
    await websocket.accept()
    await websocket.close(code=refused.code, reason=refused.reason)


async def serve_socket(
    websocket: WebSocket,
    *,
    hub: Hub,
    guard: SocketGuard[P],
    topics: Iterable[str] | Callable[[P], Iterable[str]],
    allow_query_token: bool = False,
    missing_token_code: int = CLOSE_POLICY,
    on_frame: FrameHandler | None = None,
    on_open: Hook | None = None,
    on_close: Hook | None = None,
    transform: Transform | None = None,
    review_every: float = REVIEW_EVERY,
) -> None:
    """Runs one socket until the client leaves, the guard refuses the caller, or the hub closes.

    ``topics`` may depend on the caller. ``transform`` may rewrite or drop (None) a message
    before it is sent. ``on_frame`` gets each JSON frame the client sends (a frame that is not
    JSON is answered with an ``error`` event and the socket stays open)."""
    token = socket_token(websocket, allow_query=allow_query_token)
    if token.value is None:
        await _refuse(websocket, SocketRefused(missing_token_code, "a valid access token is required"))
        return
    try:
        principal = await guard.admit(websocket, token.value)
    except SocketRefused as refused:
        await _refuse(websocket, refused)
        return
    wanted = list(topics(principal) if callable(topics) else topics)
    control = guard.watch(principal)
    async with hub.subscribe(*wanted, *control) as subscription:
        await websocket.accept(subprotocol=token.subprotocol)
        socket = Socket(websocket, principal, subscription)
        if on_open is not None:
            await on_open(socket)
        pump = asyncio.create_task(
            _pump(socket, hub, guard, set(control), transform, review_every), name="basis-socket-pump"
        )
        reader = asyncio.create_task(_read(socket, on_frame), name="basis-socket-reader")
        try:
            done, _ = await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
            refused = pump.result() if pump in done and not pump.cancelled() else None
            if refused is not None and websocket.application_state == WebSocketState.CONNECTED:
                with suppress(RuntimeError, WebSocketDisconnect, OSError):
                    await websocket.close(code=refused.code, reason=refused.reason)
        finally:
            for task in (pump, reader):
                task.cancel()
            for task in (pump, reader):
                with suppress(asyncio.CancelledError, Exception):
                    await task
            if on_close is not None:
                await on_close(socket)


async def _watched(
    subscription: Subscription,
    hub: Hub,
    guard: SocketGuard[P],
    principal: P,
    control: set[str],
    review_every: float,
    idle: float | None = None,
) -> AsyncIterator[tuple[str | None, dict[str, Any] | None]]:
    """The messages a caller may still receive, with every review done on the way: raises
    ``SocketRefused`` once the guard refuses, ends when the subscription closes, and yields
    ``(None, None)`` after ``idle`` quiet seconds when asked to (keep-alives)."""
    loop = asyncio.get_running_loop()
    next_review = loop.time() + review_every
    epoch = hub.epoch
    while True:
        wait = max(0.0, next_review - loop.time())
        try:
            topic, message = await subscription.get_item(timeout=wait if idle is None else min(wait, idle))
        except TimeoutError:
            topic, message = None, None
        except SubscriptionClosed:
            return
        if loop.time() >= next_review or hub.epoch != epoch:
            # A periodic review, or the hub lost messages: ask the record again.
            epoch, next_review = hub.epoch, loop.time() + review_every
            await guard.review(principal, None)
        if topic in control:
            await guard.review(principal, message)
        elif topic is not None or idle is not None:
            yield topic, message


async def _pump(
    socket: Socket[P],
    hub: Hub,
    guard: SocketGuard[P],
    control: set[str],
    transform: Transform | None,
    review_every: float,
) -> SocketRefused:
    """Forwards messages; returns why the socket must close."""
    try:
        async for topic, message in _watched(
            socket.subscription, hub, guard, socket.principal, control, review_every
        ):
            assert topic is not None and message is not None
            if transform is not None:
                message = transform(socket, topic, message)
                if message is None:
                    continue
            await socket.send(message)
    except SocketRefused as refused:
        return refused
    return SocketRefused(1012, "the server is restarting")


async def _read(socket: Socket[P], on_frame: FrameHandler | None) -> None:
    websocket = socket.websocket
    while True:
        try:
            incoming = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if incoming["type"] == "websocket.disconnect":
            return
        if on_frame is None:
            continue
        raw = incoming.get("text")
        if raw is None and incoming.get("bytes") is not None:
            raw = incoming["bytes"].decode("utf-8", "replace")
        if raw is None:
            continue
        if len(raw) > MAX_FRAME_BYTES:
            await socket.send(
                {"type": "error", "status": 413, "code": "frame_too_large",
                 "detail": "A frame is at most 64 KiB"}
            )
            continue
        try:
            frame = json.loads(raw)
        except ValueError:
            await socket.send(
                {"type": "error", "status": 400, "code": "invalid_json", "detail": "A frame must be JSON"}
            )
            continue
        await on_frame(socket, frame)


def serve_events(
    *,
    hub: Hub,
    guard: SocketGuard[P],
    principal: P,
    topics: Iterable[str],
    transform: Callable[[str, dict[str, Any]], dict[str, Any] | None] | None = None,
    keepalive: float = 15.0,
    review_every: float = REVIEW_EVERY,
) -> StreamingResponse:
    """A Server-Sent Events response: one ``data:`` line per message, a comment every
    ``keepalive`` seconds so proxies keep the stream open, and the same reviews as a socket
    (the stream ends when the caller loses the right to listen)."""
    wanted = list(topics)
    control = guard.watch(principal)

    async def stream() -> AsyncIterator[str]:
        async with hub.subscribe(*wanted, *control) as subscription:
            yield ": connected\n\n"
            watched = _watched(subscription, hub, guard, principal, set(control), review_every, keepalive)
            try:
                async for topic, message in watched:
                    if topic is None or message is None:
                        yield ": keepalive\n\n"
                        continue
                    if transform is not None:
                        message = transform(topic, message)
                        if message is None:
                            continue
                    yield f"data: {json.dumps(message, separators=(',', ':'), ensure_ascii=False)}\n\n"
            except SocketRefused as refused:
                closed = json.dumps({"code": refused.code, "reason": refused.reason})
                yield f"event: closed\ndata: {closed}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
