"""HemoDay through a database outage: a sync push is acknowledged only when it is durable.

Devices keep pushing new diary records while the database is cut (a TCP proxy between Basis and
PostgreSQL or MariaDB). Every push answers 200 (stored) or 503 ``unavailable`` with Retry-After,
never a 500; once the database is back, a device retries the way the sync client does (pull,
then push again), and a full pull shows every record exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from basis.core import outage
from tests.apps.hemoday.conftest import HemoDay, Person, transfusion
from tests.support.proxy import CuttableProxy

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def records(device: int, number: int) -> list[dict[str, Any]]:
    return [transfusion(f"d{device}-{number}-{part}", date=f"2026-03-{part + 1:02d}") for part in range(3)]


async def push(person: Person, batch: list[dict[str, Any]]) -> httpx.Response:
    body = {
        "changes": {"transfusions": {"created": batch, "updated": [], "deleted": []}},
        "last_pulled_at": person.last_pulled_at,
    }
    return await person.client.post("/api/v1/sync", json=body, headers=person.headers)


async def test_a_push_is_acknowledged_only_when_stored_and_a_retry_after_the_outage_stores_it_once(
    database_proxy: tuple[CuttableProxy, str], make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, url = database_proxy
    monkeypatch.setattr(outage, "OUTAGES", outage.OutageLog())
    async with make_client(database_url=url, auth_cache_seconds=0) as client:
        hemoday = HemoDay(client)
        parent = await hemoday.register()
        devices = [parent, await hemoday.join(parent.token["invite_code"]), await hemoday.register()]
        for device in devices:
            await device.pull()
        acknowledged: dict[int, list[str]] = {n: [] for n in range(len(devices))}
        refused: dict[int, list[list[dict[str, Any]]]] = {n: [] for n in range(len(devices))}
        answers: Counter[int] = Counter()
        stop = asyncio.Event()

        async def device_loop(index: int) -> None:
            number = 0
            while not stop.is_set():
                number += 1
                batch = records(index, number)
                answer = await push(devices[index], batch)
                answers[answer.status_code] += 1
                if answer.status_code == 200:
                    acknowledged[index] += [r["id"] for r in batch]
                else:
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["code"] == "unavailable" and int(answer.headers["Retry-After"]) > 0
                    refused[index].append(batch)
                await asyncio.sleep(0.01)

        loops = [asyncio.create_task(device_loop(n)) for n in range(len(devices))]
        await asyncio.sleep(0.5)
        proxy.cut()
        await asyncio.sleep(1.5)
        proxy.restore()
        await asyncio.sleep(0.3)
        stop.set()
        await asyncio.gather(*loops)
        assert answers[503] and answers[200], answers

        # Each device syncs again as the client does after a failed push: pull, then push.
        for index, batches in refused.items():
            for batch in batches:
                await devices[index].pull()
                answer = await push(devices[index], batch)
                assert answer.status_code == 200, answer.text
                acknowledged[index] += [r["id"] for r in batch]

        # The first two devices share a family; the third has its own.
        for person, expected in ((parent, acknowledged[0] + acknowledged[1]), (devices[2], acknowledged[2])):
            ids = [row["id"] for row in (await person.pull(since=0))["transfusions"]["created"]]
            assert Counter(ids) == Counter(expected), "a pushed record missing or stored twice"
