"""W2 and W5 under real concurrency: two server processes, hundreds of simultaneous issues."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests.fixtures.auth import bearer_for

from basis.apps.warehouse import stock as service
from basis.settings import Settings

pytestmark = pytest.mark.slow

REQUESTS = 240
STOCK = 300


async def _headers(session: AsyncSession, settings: Settings, make_user: Any, role: str) -> dict[str, str]:
    return await bearer_for(session, settings, await make_user(role=role))


async def _send(
    client: httpx.AsyncClient, urls: list[str], index: int, method: str, path: str, **kw: Any
) -> Any:
    """As a scanner on flaky Wi-Fi: a dropped connection is retried (POSTs carry an Idempotency-Key)."""
    for attempt in range(3):
        try:
            return await client.request(method, f"{urls[(index + attempt) % len(urls)]}{path}", **kw)
        except httpx.TransportError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _server_logs(tmp_path: Path) -> str:
    return "\n".join(
        f"{log.name}: {log.read_text()[-2000:]}" for log in sorted(tmp_path.glob("server_*.log"))
    )


async def test_two_processes_never_oversell_and_store_a_retried_request_once(
    live_servers: Callable[..., Any],
    session: AsyncSession,
    settings: Settings,
    make_user: Any,
    tmp_path: Path,
) -> None:
    admin = await _headers(session, settings, make_user, "admin")
    operators = [await _headers(session, settings, make_user, "operator") for _ in range(3)]
    rng = random.Random(7)
    quantities = [rng.choice([1, 1, 2, 3]) for _ in range(REQUESTS)]
    assert sum(quantities) > STOCK

    # One pair of server processes for both parts: starting them is the slow bit.
    with live_servers(2) as urls:
        # Shorter than uvicorn's keep-alive (5 s), so no request goes out on a connection it closes.
        limits = httpx.Limits(
            max_connections=REQUESTS + 10, max_keepalive_connections=REQUESTS + 10, keepalive_expiry=1
        )
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            try:
                # W2: >= 200 simultaneous issues of one product whose stock covers only some.
                created = await _send(
                    client,
                    urls,
                    0,
                    "POST",
                    "/products",
                    json={"name": "Hot item", "sku": "HOT-1", "current_quantity": STOCK},
                    headers={**admin, "Idempotency-Key": "hot-item"},
                )
                assert created.status_code == 201, created.text
                product_id = created.json()["id"]
                start = asyncio.Event()

                async def issue(index: int) -> httpx.Response:
                    await start.wait()
                    body = {
                        "product_id": product_id,
                        "movement_type": "outgoing",
                        "quantity": quantities[index],
                    }
                    headers = {**operators[index % 3], "Idempotency-Key": f"burst-{index}"}
                    return await _send(
                        client, urls, index, "POST", "/stock-movements", json=body, headers=headers
                    )

                tasks = [asyncio.create_task(issue(i)) for i in range(REQUESTS)]
                await asyncio.sleep(0.2)
                start.set()
                responses = await asyncio.gather(*tasks)
                final = (await _send(client, urls, 1, "GET", f"/products/{product_id}", headers=admin)).json()

                # W5: one request retried concurrently through both processes.
                scanned = await _send(
                    client,
                    urls,
                    0,
                    "POST",
                    "/products",
                    json={"name": "Scanned", "sku": "SC-1", "current_quantity": 10},
                    headers={**admin, "Idempotency-Key": "scanned-item"},
                )
                retry_headers = {**operators[0], "Idempotency-Key": "handheld-42-0001"}
                retry_body = {"product_id": scanned.json()["id"], "movement_type": "outgoing", "quantity": 2}
                retries = await asyncio.gather(
                    *(
                        _send(
                            client,
                            urls,
                            i,
                            "POST",
                            "/stock-movements",
                            json=retry_body,
                            headers=retry_headers,
                        )
                        for i in range(60)
                    )
                )
                path = f"/products/{scanned.json()['id']}/stock"
                scanned_stock = (await _send(client, urls, 1, "GET", path, headers=admin)).json()
            except httpx.TransportError as error:
                raise AssertionError(f"{error!r}\n{_server_logs(tmp_path)}") from error

    statuses = {r.status_code for r in responses}
    assert statuses <= {201, 409}, [r.text for r in responses if r.status_code not in (201, 409)][:3]
    accepted = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all(body["code"] == "insufficient_stock" for body in refused)
    taken = sum(Decimal(str(body["quantity"])) for body in accepted)
    remaining = Decimal(str(final["current_quantity"]))
    assert remaining >= 0 and taken + remaining == STOCK
    assert all(body["balance_after"] >= 0 for body in accepted)
    # Each accepted issue saw the stock its predecessor left: the balances form one chain.
    balances = sorted((Decimal(str(b["balance_after"])) for b in accepted), reverse=True)
    assert len(set(balances)) == len(accepted)
    assert refused, "the stock should have run out"
    assert all(Decimal(str(body["available"])) < Decimal(str(body["requested"])) for body in refused)

    assert {r.status_code for r in retries} == {201}
    assert len({r.content for r in retries}) == 1
    assert scanned_stock["total"] == 8
    assert await service.verify(session=session) == []
