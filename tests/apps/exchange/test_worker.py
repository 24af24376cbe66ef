"""With Redis configured, re-matching after a listing change runs in `basis worker`: a real
server process and a real worker process on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from basis.settings import Settings
from tests.apps.exchange.conftest import ALMATY, item
from tests.fixtures.auth import MakeUser, bearer_for
from tests.support.live import ROOT, settings_env

pytestmark = pytest.mark.slow


async def _until(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], want: Callable[[Any], bool]
) -> Any:
    async with asyncio.timeout(15):  # the contract: done within 5 s; slack for a busy machine
        while not want(body := (await client.get(url, headers=headers)).json()):
            await asyncio.sleep(0.2)
    return body


async def test_a_listing_change_is_rematched_in_the_background_by_the_worker(
    backend: str,
    live_servers: Callable[..., Any],
    settings_values: dict[str, Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    if backend != "postgresql":
        pytest.skip("the worker shares Redis and the database with the servers: checked on PostgreSQL")
    users = [await make_user() for _ in range(2)]
    alice, bob = [await bearer_for(session, settings, u) for u in users]
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "basis.cli", "worker", cwd=ROOT,
        env=settings_env({**settings_values, "redis_url": redis_url}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        with live_servers(1, redis_url=redis_url) as (server,):
            async with httpx.AsyncClient(base_url=server, timeout=30) as client:
                mine = "/api/exchanges/my-exchanges"
                offers = {}
                for headers, user, give, get in (
                    (alice, users[0], "property", "farm_products"),
                    (bob, users[1], "farm_products", "property"),
                ):
                    await client.put(
                        f"/api/users/{user.id}/locations", json={"locations": [ALMATY]}, headers=headers
                    )
                    body = {"offers": {give: [item(value=50_000)]}, "wants": {get: [item(value=50_000)]}}
                    r = await client.post("/api/listings/create-by-categories", json=body, headers=headers)
                    assert r.status_code == 201, r.text
                    offers[user.id] = next(i["id"] for i in r.json()["items"] if i["item_type"] == "offer")
                # No client call asks for matching: the worker proposes the pair ...
                found = await _until(client, mine, alice, lambda b: b["total"] == 1)
                eid = found["exchanges"][0]["id"]
                # ... and, after a change that stops it fitting, cancels it.
                r = await client.patch(
                    f"/api/listings/items/{offers[users[1].id]}", json={"value_tenge": 5_000}, headers=bob
                )
                assert r.status_code == 200, r.text
                await _until(client, f"{mine}?status=cancelled", bob, lambda b: b["total"] == 1)
                assert (await client.get(f"{mine}?status=proposed", headers=alice)).json()["total"] == 0
                assert (await client.get(f"/api/exchanges/{eid}", headers=alice)).json()[
                    "status"
                ] == "cancelled"
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, output.decode()[-3000:]
