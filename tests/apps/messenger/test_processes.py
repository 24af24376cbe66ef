"""Two real server processes on one Redis: fan-out, idempotent resends, presence, the rate
limit and membership changes hold across both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.apps.messenger.conftest import Person, receive_type, send, silent
from tests.support import backends

pytestmark = pytest.mark.slow


@pytest.fixture
def one_backend(backend: str) -> None:
    # Fan-out goes through Redis: one database backend is enough (PostgreSQL when chosen).
    chosen = backends.chosen_backends()
    if backend != ("postgresql" if "postgresql" in chosen else chosen[0]):
        pytest.skip("runs on one database backend only (postgresql when chosen)")


async def _presence_of(ws: ClientConnection, user_id: int) -> dict[str, Any]:
    while True:
        event = await receive_type(ws, "presence")
        if event["user_id"] == user_id:
            return event


async def _socket(base: str, who: Person) -> ClientConnection:
    return await connect(f"{base.replace('http://', 'ws://')}/ws?token={who.token}")


async def test_two_processes_behave_as_one(
    one_backend: None, live_servers: Callable[..., Any], redis_url: str, person_factory: Callable[..., Any]
) -> None:
    owner, ann, bob = await person_factory("owner"), await person_factory("ann"), await person_factory("bob")
    with live_servers(2, redis_url=redis_url, apps=["messenger"]) as (first, second):
        async with httpx.AsyncClient(timeout=20) as http:
            made = await http.post(
                f"{first}/api/chats",
                json={"type": "group", "title": "Both", "members": [ann.id, bob.id]},
                headers=owner.headers,
            )
            assert made.status_code == 201, made.text
            chat = made.json()["id"]
            bob_on_second = await _socket(second, bob)
            bob_on_first = await _socket(first, bob)
            ann_on_second = await _socket(second, ann)
            sockets = [bob_on_second, bob_on_first, ann_on_second]
            try:
                # Presence: owner's first socket, on the first process, is heard on the second.
                owner_ws = await _socket(first, owner)
                sockets.append(owner_ws)
                event = await _presence_of(bob_on_second, owner.id)
                assert event == {"type": "presence", "user_id": owner.id, "online": True}
                online = await http.get(f"{second}/api/users/{owner.id}", headers=bob.headers)
                assert online.json()["online"] is True

                # A message sent on the first process reaches every socket on both.
                await send(owner_ws, {"type": "send_message", "temp_id": "x1", "chat_id": chat, "text": "hi"})
                ack = await receive_type(owner_ws, "message_sent")
                for ws in (bob_on_second, bob_on_first, ann_on_second, owner_ws):
                    assert (await receive_type(ws, "new_message"))["message"]["id"] == ack["message"]["id"]

                # Resends of one temp_id split over both processes store one message.
                answers = await asyncio.gather(
                    *(
                        http.post(
                            f"{base}/api/chats/{chat}/messages",
                            json={"text": "once", "temp_id": "r1"},
                            headers=ann.headers,
                        )
                        for base in (first, second, first, second)
                    )
                )
                assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
                assert len({a.json()["id"] for a in answers}) == 1
                for ws in (bob_on_first, bob_on_second):
                    assert (await receive_type(ws, "new_message"))["message"]["text"] == "once"
                assert await silent(bob_on_first, 0.5, ignore=("presence",))

                # The owner removes bob on the first process: bob's sockets on the second hear no more.
                removed = await http.delete(
                    f"{first}/api/chats/{chat}/members/{bob.id}", headers=owner.headers
                )
                assert removed.status_code == 204
                await http.post(
                    f"{second}/api/chats/{chat}/messages", json={"text": "after"}, headers=ann.headers
                )
                while (await receive_type(ann_on_second, "new_message"))["message"]["text"] != "after":
                    pass
                assert await silent(bob_on_second, 0.5, ignore=("presence",))

                # The rate limit counts sends on both processes (ann has sent 1 so far... 2 with "after").
                for i in range(58):
                    base = first if i % 2 else second
                    sent = await http.post(
                        f"{base}/api/chats/{chat}/messages", json={"text": f"n{i}"}, headers=ann.headers
                    )
                    assert sent.status_code == 201, sent.text
                refused = await http.post(
                    f"{first}/api/chats/{chat}/messages", json={"text": "over"}, headers=ann.headers
                )
                assert refused.status_code == 429

                # The owner's last socket closes: the other process's sockets hear it at once.
                await owner_ws.close()
                assert await _presence_of(ann_on_second, owner.id) == {
                    "type": "presence",
                    "user_id": owner.id,
                    "online": False,
                }
            finally:
                for ws in sockets:
                    await ws.close()
