"""Issue 13 for the messenger: a message is acknowledged (201/200 over REST, ``message_sent``
on the socket) only once it is stored. While PostgreSQL or Redis is cut under a send load from
two server processes, sends answer 503 ``unavailable`` with Retry-After (the socket an
``error`` event with status 503, and it stays open); nothing acknowledged is lost, a resend
after recovery stores one message, and nothing answers 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect

from tests.apps.messenger.conftest import Person
from tests.fixtures.outages import database_proxy  # noqa: F401 (a fixture)
from tests.support.proxy import cuttable

pytestmark = pytest.mark.slow


class Load:
    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self.acked: dict[str, int] = {}
        self.refused: set[str] = set()
        self.wrong: list[Any] = []
        self.stop = asyncio.Event()
        self.log: list[tuple[float, int]] = []

    def answer(self, temp_id: str, status: int, body: dict[str, Any], retry_after: Any) -> None:
        self.log.append((asyncio.get_running_loop().time(), status))
        if status in (200, 201):
            self.acked[temp_id] = body["id"]
        elif status == 503 and body.get("code") == "unavailable" and retry_after and int(retry_after) > 0:
            self.refused.add(temp_id)
        else:
            self.wrong.append((temp_id, status, body))

    async def rest(self, http: httpx.AsyncClient, base: str, who: Person, prefix: str) -> None:
        n = 0
        while not self.stop.is_set():
            temp_id, n = f"{prefix}-{n}", n + 1
            response = await http.post(
                f"{base}/api/chats/{self.chat_id}/messages",
                json={"text": temp_id, "temp_id": temp_id},
                headers=who.headers,
            )
            self.answer(temp_id, response.status_code, response.json(), response.headers.get("Retry-After"))
            await asyncio.sleep(0.02)

    async def socket(self, ws: ClientConnection, prefix: str) -> None:
        n = 0
        while not self.stop.is_set():
            temp_id, n = f"{prefix}-{n}", n + 1
            frame = {"type": "send_message", "temp_id": temp_id, "chat_id": self.chat_id, "text": temp_id}
            await ws.send(json.dumps(frame))
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if event.get("type") == "message_sent" and event["temp_id"] == temp_id:
                    self.answer(temp_id, 201, event["message"], None)
                    break
                if event.get("type") == "error" and event.get("temp_id") == temp_id:
                    self.answer(temp_id, event["status"], event, event.get("retry_after"))
                    break
            await asyncio.sleep(0.02)


async def test_sends_are_acknowledged_only_when_stored_through_database_and_redis_cuts(
    backend: str,
    database_proxy: tuple[Any, str],  # noqa: F811
    redis_url: str,
    live_servers: Callable[..., Any],
    person_factory: Callable[..., Any],
    session: AsyncSession,
) -> None:
    if backend != "postgresql":
        pytest.skip("two processes on PostgreSQL + Redis: the cross-process part runs on PostgreSQL")
    db_proxy, db_url = database_proxy
    ann, bob, cid = await person_factory("ann"), await person_factory("bob"), await person_factory("cid")
    redis = make_url(redis_url)
    async with cuttable(redis.host or "127.0.0.1", redis.port or 6379) as redis_proxy:
        proxied_redis = f"redis://127.0.0.1:{redis_proxy.port}/{redis.database}"
        # Started from a thread: the proxies run on this event loop, which must keep serving them.
        servers = live_servers(
            2,
            database_url=db_url,
            redis_url=proxied_redis,
            apps=["messenger"],
            messenger_send_limit="100000/minute",  # the load, not the limit, is under test here
        )
        one, two = await asyncio.to_thread(servers.__enter__)
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                made = await http.post(
                    f"{one}/api/chats",
                    json={"type": "group", "title": "Outage", "members": [bob.id, cid.id]},
                    headers=ann.headers,
                )
                assert made.status_code == 201, made.text
                load = Load(made.json()["id"])
                ws = await connect(f"{two.replace('http://', 'ws://')}/ws?token={cid.token}")
                try:
                    senders = [
                        asyncio.create_task(load.rest(http, one, ann, "ann")),
                        asyncio.create_task(load.rest(http, two, bob, "bob")),
                        asyncio.create_task(load.socket(ws, "cid")),
                    ]
                    await asyncio.sleep(1.5)
                    recovered: dict[str, float] = {}
                    for name, proxy in (("database", db_proxy), ("redis", redis_proxy)):
                        refused_before = len(load.refused)
                        proxy.cut()
                        await asyncio.sleep(3)
                        assert len(load.refused) > refused_before, "sends during the cut were refused"
                        proxy.restore()
                        back = asyncio.get_running_loop().time()
                        await asyncio.sleep(2.5)
                        first = min(
                            (t for t, status in load.log if t >= back and status in (200, 201)),
                            default=float("inf"),
                        )
                        recovered[name] = first - back
                    print(f"time from restore to the first acknowledged send: {recovered}")
                    assert all(seconds < 2.5 for seconds in recovered.values()), recovered
                    load.stop.set()
                    await asyncio.gather(*senders)
                    assert load.wrong == []
                    assert load.refused and len(load.acked) > 10

                    # The socket stayed open through both cuts: it still sends.
                    load.stop.clear()
                    load.stop.set()  # one more event, sent below by hand
                    await ws.send(
                        json.dumps(
                            {
                                "type": "send_message",
                                "temp_id": "cid-after",
                                "chat_id": load.chat_id,
                                "text": "after",
                            }
                        )
                    )
                    while (event := json.loads(await asyncio.wait_for(ws.recv(), 20)))[
                        "type"
                    ] != "message_sent":
                        assert event["type"] != "error", event
                    load.acked["cid-after"] = event["message"]["id"]

                    # Every refused send, sent again after recovery, is stored once.
                    people = {"ann": ann, "bob": bob, "cid": cid}
                    for temp_id in sorted(load.refused - set(load.acked)):
                        who = people[temp_id.split("-")[0]]
                        again = await http.post(
                            f"{one}/api/chats/{load.chat_id}/messages",
                            json={"text": temp_id, "temp_id": temp_id},
                            headers=who.headers,
                        )
                        assert again.status_code in (200, 201), again.text
                        load.acked[temp_id] = again.json()["id"]
                finally:
                    await ws.close()
        finally:
            await asyncio.to_thread(servers.__exit__, None, None, None)
    rows = (
        await session.execute(
            text("SELECT client_id, id FROM messenger_messages WHERE chat_id = :chat"), {"chat": load.chat_id}
        )
    ).all()
    stored: dict[str, list[int]] = {}
    for client_id, message_id in rows:
        stored.setdefault(client_id, []).append(message_id)
    assert {k: v for k, v in stored.items() if len(v) != 1} == {}  # nothing stored twice
    assert {t: [i] for t, i in load.acked.items()} == {t: stored.get(t) for t in load.acked}  # nothing lost
    assert set(stored) == set(load.acked)  # nothing stored that nobody was told about, after the resends
