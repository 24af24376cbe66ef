"""Chat fan-out across two processes: 200 sockets, p99 of send-to-last-delivery. A benchmark,
run by hand (``BASIS_TEST_EXCHANGE_BENCH=1``, PostgreSQL and Redis); skipped otherwise."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect

from basis.settings import Settings
from tests.apps.exchange.conftest import ALMATY, item
from tests.fixtures.auth import MakeUser, bearer_for

pytestmark = pytest.mark.slow

SOCKETS, MESSAGES = 200, 50


async def test_chat_fan_out_p99(
    backend: str,
    live_servers: Callable[..., Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    if backend != "postgresql" or not os.environ.get("BASIS_TEST_EXCHANGE_BENCH"):
        pytest.skip("a benchmark: BASIS_TEST_EXCHANGE_BENCH=1, on PostgreSQL with Redis")
    users = [await make_user() for _ in range(2)]
    alice, bob = [await bearer_for(session, settings, u) for u in users]
    with live_servers(2, redis_url=redis_url) as (first, second):
        async with httpx.AsyncClient(timeout=60) as client:
            for headers, u in ((alice, users[0]), (bob, users[1])):
                await client.put(
                    f"{first}/api/users/{u.id}/locations", json={"locations": [ALMATY]}, headers=headers
                )
            for headers, give, get in (
                (alice, "property", "farm_products"),
                (bob, "farm_products", "property"),
            ):
                body = {"offers": {give: [item(value=50_000)]}, "wants": {get: [item(value=50_000)]}}
                await client.post(f"{first}/api/listings/create-by-categories", json=body, headers=headers)
            await client.post(
                f"{first}/api/matching/run-pipeline", json={"user_id": users[0].id}, headers=alice
            )
            eid = (await client.get(f"{first}/api/exchanges/my-exchanges", headers=alice)).json()[
                "exchanges"
            ][0]["id"]
            sockets = []
            for n in range(SOCKETS):
                base = (first if n % 2 else second).replace("http", "ws")
                token = (alice if n % 4 < 2 else bob)["Authorization"][7:]
                sockets.append(await connect(f"{base}/ws/exchange/{eid}?token={token}"))
            await asyncio.sleep(1)
            latencies = []
            try:
                for n in range(MESSAGES):
                    started = time.perf_counter()
                    r = await client.post(
                        f"{first}/api/chat/exchange/{eid}/messages", json={"text": f"m{n}"}, headers=alice
                    )
                    assert r.status_code == 201
                    await asyncio.gather(*[_until(s, f"m{n}") for s in sockets])
                    latencies.append(time.perf_counter() - started)
            finally:
                for s in sockets:
                    await s.close()
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"\nchat fan-out: {SOCKETS} sockets over 2 processes, {MESSAGES} messages: "
        f"median {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
        "(send to last delivery)"
    )


async def _until(socket: Any, text: str) -> None:
    async with asyncio.timeout(30):
        while json.loads(await socket.recv())["message"]["message_text"] != text:
            pass
