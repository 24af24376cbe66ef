"""Two real server processes on PostgreSQL and Redis: the chat and the event stream cross
processes, partners confirming at once through different processes complete once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from basis.settings import Settings
from tests.apps.exchange.conftest import ALMATY, item
from tests.fixtures.auth import MakeUser, bearer_for

pytestmark = pytest.mark.slow


async def _events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> AsyncIterator[dict[str, Any]]:
    async with client.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


async def _next_of(stream: AsyncIterator[dict[str, Any]], kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        async for event in stream:
            if event["type"] == kind:
                return event
    raise AssertionError("stream ended")


async def test_chat_events_and_confirm_across_two_processes(
    backend: str,
    live_servers: Callable[..., Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    if backend != "postgresql":
        pytest.skip("processes share Redis, not the database: checked once, on PostgreSQL")
    users = [await make_user(full_name=name) for name in ("Алия", "Берик", "Ева")]
    alice, bob, eve = [await bearer_for(session, settings, u) for u in users]
    ids = [u.id for u in users]
    with live_servers(2, redis_url=redis_url) as (first, second):
        async with httpx.AsyncClient(timeout=30) as client:
            for headers, uid in ((alice, ids[0]), (bob, ids[1])):
                r = await client.put(
                    f"{first}/api/users/{uid}/locations", json={"locations": [ALMATY]}, headers=headers
                )
                assert r.status_code == 200
            bob_stream = _events(client, f"{second}/api/events/stream", bob)
            waiting = asyncio.create_task(_next_of(bob_stream, "notification_new"))
            await asyncio.sleep(0.5)  # the stream is subscribed
            for headers, give, get in (
                (alice, "property", "farm_products"),
                (bob, "farm_products", "property"),
            ):
                body = {"offers": {give: [item(value=50_000)]}, "wants": {get: [item(value=50_000)]}}
                r = await client.post(
                    f"{first}/api/listings/create-by-categories", json=body, headers=headers
                )
                assert r.status_code == 201
            r = await client.post(
                f"{first}/api/matching/run-pipeline", json={"user_id": ids[0]}, headers=alice
            )
            assert r.json()["bilateral_matches"] == 1
            note = await waiting
            eid = note["exchange_id"]
            assert note["notification_type"] == "bilateral_match" and note["notification_id"]

            ws1, ws2 = first.replace("http", "ws"), second.replace("http", "ws")
            eve_token = eve["Authorization"][7:]
            for url, code in ((f"{ws1}/ws/exchange/{eid}?token={eve_token}", 4403),
                              (f"{ws1}/ws/exchange/nope?token={eve_token}", 4404),
                              (f"{ws1}/ws/exchange/{eid}?token=bad", 4401)):  # fmt: skip
                async with connect(url) as refused:
                    with pytest.raises(ConnectionClosed) as closed:
                        await asyncio.wait_for(refused.recv(), timeout=10)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == code
            async with (
                connect(f"{ws1}/ws/exchange/{eid}?token={alice['Authorization'][7:]}") as a_sock,
                connect(f"{ws2}/ws/exchange/{eid}?token={bob['Authorization'][7:]}") as b_sock,
            ):
                await asyncio.sleep(0.3)
                received = asyncio.create_task(_next_of(bob_stream, "message_received"))
                await a_sock.send(json.dumps({"type": "message", "text": "Салем!", "message_type": "TEXT"}))
                for sock, read in ((a_sock, True), (b_sock, False)):
                    frame = json.loads(await asyncio.wait_for(sock.recv(), timeout=10))
                    assert frame["type"] == "message"
                    assert (
                        frame["message"]["message_text"] == "Салем!"
                        and frame["message"]["sender_id"] == ids[0]
                    )
                    assert frame["message"]["message_type"] == "text" and frame["message"]["is_read"] is read
                event = await received
                assert event == {
                    "type": "message_received", "exchange_id": eid, "sender_id": ids[0],
                    "sender_name": "Алия", "preview": "Салем!",
                }  # fmt: skip
                await b_sock.send(json.dumps({"type": "message", "text": "   "}))
                assert json.loads(await asyncio.wait_for(b_sock.recv(), timeout=10)) == {
                    "type": "error",
                    "code": "empty_text",
                }
                await b_sock.send(json.dumps({"type": "message", "text": "ok"}))  # still open
                assert (
                    json.loads(await asyncio.wait_for(b_sock.recv(), timeout=10))["message"]["message_text"]
                    == "ok"
                )

            for headers in (alice, bob):
                assert (
                    await client.post(f"{first}/api/chains/{eid}/accept", headers=headers)
                ).status_code == 200
            answers = await asyncio.gather(
                client.post(f"{first}/api/exchanges/{eid}/confirm", headers=alice),
                client.post(f"{second}/api/exchanges/{eid}/confirm", headers=bob),
            )
            assert [a.status_code for a in answers] == [200, 200]
            assert sum(1 for a in answers if a.json()["items_archived"]) == 1
            history = (await client.get(f"{second}/api/exchanges/{eid}/history", headers=bob)).json()[
                "history"
            ]
            assert [e["event_type"] for e in history].count("completed") == 1
