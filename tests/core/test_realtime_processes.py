"""Two real server processes on one Redis: a socket held by one gets what the other publishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support import backends

pytestmark = pytest.mark.slow


@pytest.fixture
def one_backend(backend: str) -> None:
    # Fan-out goes through Redis, not the database: starting servers per backend would only cost time.
    chosen = backends.chosen_backends()
    if backend != ("postgresql" if "postgresql" in chosen else chosen[0]):
        pytest.skip("runs on one database backend only (postgresql when chosen)")


async def subscribe(base_url: str, topic: str) -> ClientConnection:
    socket = await connect(f"{base_url.replace('http://', 'ws://')}/example/ws?topic={topic}")
    assert json.loads(await asyncio.wait_for(socket.recv(), 5)) == {"type": "subscribed", "topic": topic}
    return socket


async def next_message(socket: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def test_a_message_published_through_one_process_reaches_sockets_on_every_process(
    one_backend: None, live_servers: Callable[..., Any], redis_url: str, admin_headers: dict[str, str]
) -> None:
    with live_servers(2, redis_url=redis_url, apps=["example"]) as (first, second):
        on_first, also_on_first = await subscribe(first, "news"), await subscribe(first, "news")
        on_second, other_topic = await subscribe(second, "news"), await subscribe(first, "sports")
        try:
            async with httpx.AsyncClient(base_url=second, headers=admin_headers, timeout=10) as http:
                body = {"topic": "news", "message": {"text": "hi"}}
                published = await http.post("/example/publish", json=body)
                assert published.status_code == 202, published.text
            for socket in (on_first, also_on_first, on_second):
                assert await next_message(socket) == {"text": "hi"}
            with pytest.raises(TimeoutError):
                await next_message(other_topic, timeout=0.3)

            async with httpx.AsyncClient(base_url=first, headers=admin_headers, timeout=10) as http:
                await http.post("/example/publish", json={"topic": "sports", "message": {"score": [2, 1]}})
            assert await next_message(other_topic) == {"score": [2, 1]}
        finally:
            for socket in (on_first, also_on_first, on_second, other_topic):
                await socket.close()
