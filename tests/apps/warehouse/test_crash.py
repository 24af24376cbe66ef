"""W1, W2, W5 through a crash: the server process is killed (SIGKILL) while scanners send
movements with Idempotency-Keys; after a restart they send again what got no answer. No
acknowledged movement is lost, none is stored twice, and ``basis warehouse verify`` finds
no drift.

PostgreSQL only: a movement batch runs its own pipelined path there (two round trips, the
commit inside the pipeline), which is the path a kill between a commit and its answer can
catch; the other databases run the ledger's plain statements, whose crash safety is the
database's own commit. Starting three server processes is the slow part of the test."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tests.fixtures.auth import bearer_for
from tests.support.live import ROOT, free_port, settings_env

from basis.apps.warehouse.models import StockMovement
from basis.settings import Settings

pytestmark = pytest.mark.slow

CLIENTS = 12
STOCK = 1_000


@contextmanager
def _server(values: dict[str, Any], log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", "tests.support.server:create",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                "--loop", "uvloop", "--http", "httptools",
            ],
            cwd=ROOT, env=settings_env(values), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_a_killed_server_loses_no_acknowledged_movement_and_stores_none_twice(
    backend: str,
    settings_values: dict[str, Any],
    session: AsyncSession,
    settings: Settings,
    make_user: Any,
    tmp_path: Path,
) -> None:
    if backend != "postgresql":
        pytest.skip("the crash test runs on PostgreSQL (see the module's docstring)")
    admin = await bearer_for(session, settings, await make_user(role="admin"))
    operators = [await bearer_for(session, settings, await make_user(role="operator")) for _ in range(3)]
    log = tmp_path / "server.log"
    sent: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    acknowledged: dict[str, dict[str, Any]] = {}

    async def scanner(client: httpx.AsyncClient, url: str, number: int, product_id: int) -> None:
        """Movements until the server goes away; each one's key, body and answer (if any) noted."""
        for seq in range(10_000):
            key = f"scanner-{number}-{seq}"
            kind = ("incoming", "outgoing")[seq % 2]
            body = {"product_id": product_id, "movement_type": kind, "quantity": 1}
            headers = {**operators[number % 3], "Idempotency-Key": key}
            sent[key] = (body, headers)
            try:
                response = await client.post(f"{url}/stock-movements", json=body, headers=headers)
            except httpx.TransportError:
                return
            assert response.status_code == 201, response.text
            acknowledged[key] = response.json()

    async with httpx.AsyncClient(timeout=30) as client:
        with _server(settings_values, log) as (proc, url):
            product = {"name": "Hot", "sku": "HOT-9", "current_quantity": STOCK}
            created = await client.post(f"{url}/products", json=product, headers=admin)
            assert created.status_code == 201, created.text
            product_id = created.json()["id"]
            scanners = [asyncio.create_task(scanner(client, url, n, product_id)) for n in range(CLIENTS)]
            while len(acknowledged) < 150:
                await asyncio.sleep(0.02)
                assert not all(task.done() for task in scanners), log.read_text()[-3000:]
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(asyncio.gather(*scanners), timeout=30)
            proc.wait(timeout=10)
        unanswered = set(sent) - set(acknowledged)
        assert unanswered, "the kill should have cut some requests off"

        with _server(settings_values, log) as (_proc, url):
            resent = {
                key: await client.post(f"{url}/stock-movements", json=body, headers=headers)
                for key, (body, headers) in sent.items()
            }
            final = (await client.get(f"{url}/products/{product_id}", headers=admin)).json()

    # Every request answered now; an acknowledged one with its first answer (the same movement).
    assert {r.status_code for r in resent.values()} == {201}, log.read_text()[-3000:]
    for key, first in acknowledged.items():
        assert resent[key].json() == first, key
        assert resent[key].headers.get("Idempotent-Replayed") == "true"
    # Each key is in the ledger exactly once: none lost, none doubled.
    rows = (
        await session.execute(
            select(StockMovement.idempotency_key, func.count())
            .where(StockMovement.product_id == product_id, StockMovement.idempotency_key.is_not(None))
            .group_by(StockMovement.idempotency_key)
        )
    ).all()
    await session.rollback()
    assert dict(rows) == dict.fromkeys(sent, 1)
    ids = {key: body.json()["id"] for key, body in resent.items()}
    assert len(set(ids.values())) == len(sent)
    incoming = sum(1 for body, _ in sent.values() if body["movement_type"] == "incoming")
    assert final["current_quantity"] == STOCK + incoming - (len(sent) - incoming)

    verify = subprocess.run(
        [sys.executable, "-c", "from basis.cli import main; main()", "warehouse", "verify"],
        cwd=ROOT, env=settings_env(settings_values), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("ok:")
