"""Messenger test helpers: people with tokens, an API wrapper, and the app behind a real
uvicorn server for socket tests."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect

from basis.settings import Settings
from tests.fixtures.auth import MakeUser, bearer_for
from tests.support.live import free_port
from tests.support.server import available_apps

_numbers = itertools.count(1)


@dataclass
class Person:
    id: int
    headers: dict[str, str]
    name: str

    @property
    def token(self) -> str:
        return self.headers["Authorization"].split(" ", 1)[1]


@dataclass
class Api:
    """The REST API as the messenger's client uses it; helpers assert the expected status."""

    client: httpx.AsyncClient
    make_person: Callable[..., Any]
    ws_base: str | None = None
    sockets: list[ClientConnection] = field(default_factory=list)

    async def person(self, name: str | None = None, **fields: Any) -> Person:
        return await self.make_person(name, **fields)

    async def chat(self, who: Person, *, expect: int = 201, **body: Any) -> dict[str, Any]:
        response = await self.client.post("/api/chats", json=body, headers=who.headers)
        assert response.status_code == expect, response.text
        return response.json()

    async def dialog(self, a: Person, b: Person) -> dict[str, Any]:
        return await self.chat(a, type="dialog", members=[b.id])

    async def group(self, owner: Person, *members: Person, title: str = "Team") -> dict[str, Any]:
        return await self.chat(owner, type="group", title=title, members=[m.id for m in members])

    async def send(
        self, who: Person, chat_id: int, text: str = "hello", *, expect: int | None = 201, **body: Any
    ) -> Any:
        response = await self.client.post(
            f"/api/chats/{chat_id}/messages", json={"text": text, **body}, headers=who.headers
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response.json()

    async def get(self, who: Person, path: str, *, expect: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, params=params, headers=who.headers)
        assert response.status_code == expect, response.text
        return response.json()

    async def post(self, who: Person, path: str, body: Any = None, *, expect: int = 200) -> Any:
        response = await self.client.post(path, json=body, headers=who.headers)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def socket(self, who: Person) -> ClientConnection:
        assert self.ws_base is not None, "use the `served` fixture for sockets"
        # Unread frames never stop the client reading (websockets pauses at 16 by default), so
        # closing a socket a test did not read to the end is answered at once, not after 10 s.
        ws = await connect(f"{self.ws_base}/ws?token={who.token}", max_queue=None)
        self.sockets.append(ws)
        return ws


@pytest.fixture
def settings_values(settings_values: dict[str, Any]) -> dict[str, Any]:
    # As the black-box suite runs: mail at once, a short quiet period. The messenger first: it
    # answers the paths it shares with the exchange (GET /api/users/{id}).
    return {
        **settings_values,
        "apps": ["messenger", *(name for name in available_apps() if name != "messenger")],
        "messenger_offline_mail_delay_seconds": 0,
        "messenger_offline_mail_quiet_seconds": 8,
    }


@pytest.fixture
def person_factory(make_user: MakeUser, session: AsyncSession, settings: Settings) -> Callable[..., Any]:
    async def make(name: str | None = None, **fields: Any) -> Person:
        number = next(_numbers)
        name = name or f"person{number}"
        user = await make_user(
            email=f"{name}.{number}@example.com", username=f"{name}{number}", full_name=name.title(), **fields
        )
        return Person(user.id, await bearer_for(session, settings, user), name)

    return make


@pytest.fixture
async def api(client: httpx.AsyncClient, person_factory: Callable[..., Any]) -> Api:
    return Api(client, person_factory)


async def _serve(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", ws_ping_interval=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def serve(make_app: Callable[..., FastAPI], _clean_tables: None) -> Callable[..., Any]:
    """``async with serve(**settings) as api``: the app behind a real server, sockets included."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(person_maker: Callable[..., Any], **overrides: Any) -> AsyncIterator[Api]:
        app = make_app(**overrides)
        async for host in _serve(app):
            async with httpx.AsyncClient(base_url=f"http://{host}", timeout=20) as client:
                client.app = app  # type: ignore[attr-defined]
                api = Api(client, person_maker, ws_base=f"ws://{host}")
                try:
                    yield api
                finally:
                    for ws in api.sockets:
                        await ws.close()

    return start


@pytest.fixture
async def live(serve: Callable[..., Any], person_factory: Callable[..., Any]) -> AsyncIterator[Api]:
    async with serve(person_factory) as api:
        yield api


async def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def receive_type(ws: ClientConnection, kind: str, timeout: float = 5) -> dict[str, Any]:
    """The next event of ``kind``, skipping others (presence, typing) on the way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event = await receive(ws, max(0.01, deadline - loop.time()))
        if event.get("type") == kind:
            return event


async def silent(ws: ClientConnection, timeout: float = 0.3, *, ignore: tuple[str, ...] = ()) -> bool:
    """True when nothing (but ``ignore``d types) arrives within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return True
        try:
            event = await receive(ws, left)
        except TimeoutError:
            return True
        if event.get("type") not in ignore:
            return False


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(json.dumps(event))

