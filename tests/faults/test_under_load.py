"""Faults under load, on PostgreSQL with Redis and two server processes: while terminals scan
(resending until acknowledged, and resending acknowledged scans), a user logs in and an admin
reads, (a) PostgreSQL is cut for a few seconds, (b) Redis is killed and started again empty
(no persistence), (c) one server process is killed with SIGKILL and started again.

Each outage asserts: no 500 (no answer other than 2xx or 503 with Retry-After), 503s while the
database is away, recovery without restarting anything, no acknowledged scan lost or stored
twice, a logout during the Redis outage still refused on both processes once Redis is back
empty, no lockout afterwards, and at most LOG_BOUND bytes of server log per process per outage.
The table of what each kind of call answered and the time to recover is printed and written to
``<tmp>/faults.md`` (``pytest -s`` shows it)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.faults.load import Load, Recorder, RedisServer, ServerProcess
from tests.fixtures.auth import DEFAULT_PASSWORD
from tests.support import backends as tb
from tests.support.proxy import CuttableProxy

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 4.0
LOG_BOUND = 4096
"""Bytes of server log one process may write during one outage (at WARNING, as in prod)."""
RECOVERY_BOUND = 10.0
"""Seconds from the dependency's return to the first success of every kind of call."""
KINDS = ("scan", "scan resend", "login", "read")


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed: the drill kills and restarts a Redis of its own"
        if tb.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    server.kill9()


@pytest.fixture
def postgresql_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the fault drill runs on PostgreSQL with Redis (the production set-up)")


def answers_are_2xx_or_503(record: Recorder, start: float, end: float, what: str) -> None:
    bad = [c for c in record.between(start, end) if isinstance(c.status, int) and c.status >= 300]
    wrong = [c for c in bad if c.status != 503 or not c.retry_after]
    assert not wrong, f"{what}: answers other than 2xx or 503 with Retry-After: {wrong[:5]}"


def table_rows(outage: str, record: Recorder, start: float, end: float, back: float) -> list[str]:
    summary = record.summary(start, end)
    rows = []
    for kind in KINDS:
        counts = summary.get(kind)
        if not counts:
            continue
        answered = ", ".join(f"{label} x{count}" for label, count in sorted(counts.items()))
        recovered = record.recovered_after(kind, back)
        shown = "-" if recovered is None else f"{recovered:.2f}"
        rows.append(f"| {outage} | {kind} | {answered} | {shown} |")
    return rows


async def stored_scans(database_url: str) -> dict[str, list[int]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT client_event_id, id FROM events"))).all()
    finally:
        await engine.dispose()
    stored: dict[str, list[int]] = {}
    for client_event_id, event_id in rows:
        stored.setdefault(client_event_id, []).append(event_id)
    return stored


async def me(url: str, token: str) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.get(f"{url}/auth/me", headers={"Authorization": f"Bearer {token}"})).status_code


async def login(url: str, user: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(f"{url}/auth/login", json={"login": user, "password": DEFAULT_PASSWORD})


def log_sizes(servers: list[ServerProcess]) -> list[int]:
    return [server.log_size() for server in servers]


def grew(servers: list[ServerProcess], before: list[int]) -> list[int]:
    return [after - earlier for after, earlier in zip(log_sizes(servers), before, strict=True)]


async def test_postgresql_cut_redis_restarted_empty_and_a_process_killed_under_load(
    postgresql_only: None,
    database_proxy: tuple[CuttableProxy, str],
    redis_server: RedisServer,
    test_database: tb.TestDatabase,
    settings_values: dict[str, Any],
    make_user: Any,
    tmp_path: Path,
    _clean_tables: None,
) -> None:
    proxy, proxied_url = database_proxy
    admin = await make_user(role="admin")
    user, leaver = await make_user(), await make_user()
    values = {
        **settings_values,
        "database_url": proxied_url,
        "redis_url": redis_server.url,
        "log_level": "WARNING",
        "timetracker_terminal_scan_cooldown_seconds": 0,
        "timetracker_terminal_rate_limit": "100000/minute",
    }
    servers = [ServerProcess(index, values, tmp_path) for index in range(2)]
    for server in servers:
        server.start()
    rows = ["| outage | call | answers during the outage | recovered after (s) |", "|---|---|---|---|"]
    try:
        await asyncio.gather(*(server.ready() for server in servers))
        first, second = servers[0].url, servers[1].url
        token = (await login(first, admin.email)).json()["access_token"]
        staff = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=first, headers=staff, timeout=10) as http:
            keys = [
                (await http.post("/api/terminals", json={"name": f"Door {n}"})).json()["api_key"]
                for n in range(3)
            ]
            uids = [f"04:F0:00:{n:02X}" for n in range(12)]
            for number, uid in enumerate(uids):
                made = await http.post(
                    "/api/employees", json={"full_name": f"Worker {number}", "nfc_uid": uid}
                )
                assert made.status_code == 201, made.text
        load = Load(servers, keys, uids, token, {"login": user.email, "password": DEFAULT_PASSWORD})
        pids = [server.proc.pid for server in servers if server.proc]

        async with load.running():
            await asyncio.sleep(1.5)

            # (a) PostgreSQL cut for a few seconds.
            sizes, cut = log_sizes(servers), time.monotonic()
            proxy.cut()
            await asyncio.sleep(OUTAGE_SECONDS)
            back = time.monotonic()
            proxy.restore()
            await asyncio.sleep(3)
            database_log = grew(servers, sizes)
            rows += table_rows("PostgreSQL cut 4 s", load.record, cut, back, back)
            answers_are_2xx_or_503(load.record, cut, time.monotonic(), "PostgreSQL cut")
            during = load.record.summary(cut + 0.5, back)
            for kind in ("scan", "login"):
                assert during[kind].get("503"), (kind, during)
            assert during["scan"].get("2xx", 0) == 0, "a scan acknowledged while the database was away"
            for kind in ("scan", "login", "read"):
                recovered = load.record.recovered_after(kind, back)
                assert recovered is not None and recovered < RECOVERY_BOUND, (kind, recovered)

            # (b) Redis killed, a logout meanwhile, Redis started again without its data.
            leaving = (await login(second, leaver.email)).json()["access_token"]
            assert [await me(first, leaving), await me(second, leaving)] == [200, 200]  # cached on both
            sizes, cut = log_sizes(servers), time.monotonic()
            redis_server.kill9()
            await asyncio.sleep(1)
            async with httpx.AsyncClient(timeout=10) as http:
                logout = await http.post(
                    f"{second}/auth/logout", headers={"Authorization": f"Bearer {leaving}"}
                )
            assert logout.status_code == 200, logout.text
            assert [await me(first, leaving), await me(second, leaving)] == [401, 401]
            await asyncio.sleep(OUTAGE_SECONDS - 1)
            back = time.monotonic()
            await redis_server.start()
            await asyncio.sleep(3)
            redis_log = grew(servers, sizes)
            rows += table_rows("Redis killed 4 s, back empty", load.record, cut, back, back)
            answers_are_2xx_or_503(load.record, cut, time.monotonic(), "Redis killed")
            assert [await me(first, leaving), await me(second, leaving)] == [401, 401]
            for kind in ("scan", "login", "read"):
                recovered = load.record.recovered_after(kind, back)
                assert recovered is not None and recovered < RECOVERY_BOUND, (kind, recovered)

            # (c) One server process killed with SIGKILL under load, and started again.
            cut = time.monotonic()
            servers[1].kill9()
            await asyncio.sleep(2)
            servers[1].start()
            restarted = time.monotonic()
            await servers[1].ready()
            back = time.monotonic()
            await asyncio.sleep(2)
            rows += table_rows("server process kill -9", load.record, cut, back, back)
            answers_are_2xx_or_503(load.record, cut, time.monotonic(), "process killed")
            on_survivor = [c for c in load.record.between(cut, back) if c.server == 0]
            refused = [c for c in on_survivor if c.status not in (200, 201)]
            assert on_survivor and not refused, refused[:5]
            scans_back = load.record.recovered_after("scan", restarted, server=1)
            assert scans_back is not None and scans_back < 60, scans_back
            rows.append(
                "| server process kill -9 | restarted process, first scan stored | | "
                f"{scans_back:.2f} from its start |"
            )

        answers_are_2xx_or_503(load.record, 0, time.monotonic(), "the whole run")
        # Nothing acknowledged lost or doubled; every resend of an acknowledged scan replayed it.
        stored = await stored_scans(test_database.url)
        lost = [event for event in load.acknowledged if event not in stored]
        doubled = {event: ids for event, ids in stored.items() if len(ids) > 1}
        moved = [event for event, event_id in load.acknowledged.items() if stored.get(event) != [event_id]]
        assert not lost and not doubled and not moved, (lost[:5], doubled, moved[:5])
        assert not load.replays_differing, load.replays_differing[:5]
        assert set(stored) == set(load.acknowledged), "a scan stored that no terminal sent"
        # No lockout, and every process is the one started at the beginning (but the killed one).
        assert [(await login(url, admin.email)).status_code for url in (first, second)] == [200, 200]
        assert servers[0].alive and servers[0].proc and servers[0].proc.pid == pids[0]
        assert max(database_log + redis_log) <= LOG_BOUND, (database_log, redis_log)
        rows.append("")
        rows.append(
            f"Acknowledged scans: {len(load.acknowledged)}, stored: {sum(len(v) for v in stored.values())}, "
            f"lost: {len(lost)}, doubled: {len(doubled)}; calls made: {len(load.record.calls)}. "
            f"Server log bytes per process during the PostgreSQL cut: {database_log}, "
            f"during the Redis outage: {redis_log} (bound {LOG_BOUND})."
        )
    finally:
        for server in servers:
            server.stop()
        report = "\n".join(rows)
        (tmp_path / "faults.md").write_text(report + "\n")
        print("\n" + report)
