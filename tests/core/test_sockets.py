"""The core socket and event-stream helper: token sources, forwarding, reviews and closing.

The guard here is a small real implementation of ``SocketGuard`` whose verdict a test can
change; identity's guard for access tokens is tested across processes in
tests/apps/timetracker/test_live_servers.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, WebSocket
from starlette.requests import HTTPConnection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from basis.core.realtime import MemoryHub
from basis.core.realtime.sockets import (
    CLOSE_POLICY,
    CLOSE_SESSION_ENDED,
    Socket,
    SocketRefused,
    serve_events,
    serve_socket,
)
from tests.support.live import free_port

CONTROL = "control"


@dataclass
class Guard:
    tokens: dict[str, str] = field(default_factory=lambda: {"good": "ann", "other": "bob"})
    banned: set[str] = field(default_factory=set)
    reviews: int = 0

    async def admit(self, conn: HTTPConnection, token: str) -> str:
        if token not in self.tokens:
            raise SocketRefused(CLOSE_POLICY, "a valid access token is required")
        return self.tokens[token]

    def watch(self, principal: str) -> list[str]:
        return [CONTROL]

    async def review(self, principal: str, message: dict[str, Any] | None) -> None:
        self.reviews += 1
        if principal in self.banned:
            raise SocketRefused(CLOSE_SESSION_ENDED, "your session has ended")


def make_app(
    guard: Guard, *, allow_query: bool = False, review_every: float = 30.0
) -> tuple[FastAPI, MemoryHub]:
    hub = MemoryHub()
    app = FastAPI()

    def transform(socket: Socket[Any], topic: str, message: dict[str, Any]) -> dict[str, Any] | None:
        if message.get("secret_for") not in (None, socket.principal):
            return None  # not for this caller
        return {**message, "to": socket.principal}

    async def on_frame(socket: Socket[Any], frame: Any) -> None:
        await socket.send({"type": "echo", "frame": frame})

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await serve_socket(
            websocket,
            hub=hub,
            guard=guard,
            topics=lambda principal: ["news", f"inbox:{principal}"],
            allow_query_token=allow_query,
            on_frame=on_frame,
            transform=transform,
            review_every=review_every,
        )

    @app.get("/publish/{topic}")
    async def publish(topic: str, banned: str | None = None, secret_for: str | None = None) -> dict[str, str]:
        if banned:
            guard.banned.add(banned)
        message: dict[str, Any] = {"topic": topic}
        if secret_for:
            message["secret_for"] = secret_for
        await hub.publish(topic, message)
        return {"ok": "yes"}

    return app, hub


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The app behind a real uvicorn server on loopback, in this event loop."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        await task


async def receive(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def close_code(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_handshake_without_a_valid_token_is_closed_with_1008() -> None:
    app, _ = make_app(Guard(), allow_query=True)
    async with serving(app) as (_, url):
        for path, headers in (("", {}), ("?token=bad", {}), ("", bearer("bad"))):
            async with connect(url + path, additional_headers=headers) as ws:
                assert await close_code(ws) == CLOSE_POLICY


async def test_the_query_token_counts_only_where_the_route_allows_it() -> None:
    strict, _ = make_app(Guard(), allow_query=False)
    async with serving(strict) as (_, url), connect(url + "?token=good") as ws:
        assert await close_code(ws) == CLOSE_POLICY
    lenient, _ = make_app(Guard(), allow_query=True)
    async with serving(lenient) as (client, url), connect(url + "?token=good") as ws:
        await client.get("/publish/news")
        assert await receive(ws) == {"topic": "news", "to": "ann"}


async def test_header_and_subprotocol_tokens_and_forwarding_with_the_callers_view() -> None:
    app, _ = make_app(Guard())
    async with (
        serving(app) as (client, url),
        connect(url, additional_headers=bearer("good")) as ann,
        connect(url, subprotocols=["bearer", "other"]) as bob,  # type: ignore[list-item]
    ):
        assert bob.subprotocol == "bearer"
        await client.get("/publish/inbox:bob", params={"secret_for": "bob"})
        await client.get("/publish/news", params={"secret_for": "ann"})
        await client.get("/publish/news")
        # Each sees what is theirs, in order; bob never sees ann's news.
        assert await receive(ann) == {"topic": "news", "secret_for": "ann", "to": "ann"}
        assert await receive(ann) == {"topic": "news", "to": "ann"}
        assert await receive(bob) == {"topic": "inbox:bob", "secret_for": "bob", "to": "bob"}
        assert await receive(bob) == {"topic": "news", "to": "bob"}


async def test_frames_reach_the_app_and_bad_ones_get_an_error_without_closing() -> None:
    app, _ = make_app(Guard())
    async with serving(app) as (_, url), connect(url, additional_headers=bearer("good")) as ws:
        await ws.send("{not json")
        assert (await receive(ws))["code"] == "invalid_json"
        await ws.send("x" * (64 * 1024 + 1))
        assert (await receive(ws))["code"] == "frame_too_large"
        await ws.send(json.dumps({"type": "typing"}))
        assert await receive(ws) == {"type": "echo", "frame": {"type": "typing"}}


async def test_a_control_message_closes_the_socket_of_a_caller_the_guard_now_refuses() -> None:
    guard = Guard()
    app, _ = make_app(guard)
    async with (
        serving(app) as (client, url),
        connect(url, additional_headers=bearer("good")) as ann,
        connect(url, additional_headers=bearer("other")) as bob,
    ):
        await client.get(f"/publish/{CONTROL}", params={"banned": "ann"})
        assert await close_code(ann) == CLOSE_SESSION_ENDED
        # Bob was reviewed too and stays; control messages are never forwarded.
        await client.get("/publish/news")
        assert await receive(bob) == {"topic": "news", "to": "bob"}
    assert guard.reviews >= 2


async def test_a_periodic_review_closes_the_socket_without_any_message() -> None:
    guard = Guard()
    app, _ = make_app(guard, review_every=0.2)
    async with serving(app) as (_, url), connect(url, additional_headers=bearer("good")) as ws:
        guard.banned.add("ann")  # as if the message about it had been lost
        assert await close_code(ws) == CLOSE_SESSION_ENDED


async def test_an_event_stream_forwards_keeps_alive_and_ends_when_the_caller_is_refused() -> None:
    guard = Guard()
    hub = MemoryHub()
    response = serve_events(hub=hub, guard=guard, principal="ann", topics=["news"], keepalive=0.1)
    assert response.media_type == "text/event-stream"
    chunks = response.body_iterator
    assert await anext(chunks) == ": connected\n\n"
    await hub.publish("news", {"n": 1})
    assert await anext(chunks) == 'data: {"n":1}\n\n'
    assert await anext(chunks) == ": keepalive\n\n"
    guard.banned.add("ann")
    await hub.publish(CONTROL, {"users": ["ann"]})
    closed = await anext(chunks)
    assert closed.startswith("event: closed\n")
    data = json.loads(closed.split("data: ", 1)[1])
    assert data == {"code": CLOSE_SESSION_ENDED, "reason": "your session has ended"}
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(chunks), 1)


def test_uvicorn_socket_lines_keep_no_query_string() -> None:
    import logging

    from basis.core.logging import strip_query_strings

    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/api/ws/scans?token=eyJhbGciOi.secret.part"), None,
    )
    assert strip_query_strings(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /api/ws/scans" [accepted]'
