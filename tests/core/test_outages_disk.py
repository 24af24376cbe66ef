"""SQLite on a full disk: ``/health/ready`` says so (503 with the reason), and every scan is
answered with what happened to it: 2xx means stored, ``503 scan_not_stored`` means not stored,
never a stored scan answered as an error (the issue's case: the scan committed, then the
terminal's "last seen" update failed and turned the answer into a 500).

The disk is a small tmpfs the test mounts (it must run as root) and fills with one file."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from basis.apps.timetracker import terminal
from basis.core import health, migrations
from basis.core.db import Database
from basis.identity.models import User
from basis.identity.passwords import hash_password
from tests.fixtures.auth import DEFAULT_PASSWORD

ROUNDS = 6
ROOM_PER_ROUND = 24 * 1024
ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def small_disk(backend: str, tmp_path: Path, all_specs: list[Any]) -> Iterator[Path]:
    """A 24 MiB tmpfs holding a migrated SQLite database (``basis.sqlite3``)."""
    if backend != "sqlite":
        pytest.skip("a full disk under the database file is SQLite's case")
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem to fill needs root (run the suite as root to cover it)")
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here (a container without CAP_SYS_ADMIN?): {mounted.stderr.strip()}"
        )
    try:
        migrations.upgrade(f"sqlite+aiosqlite:///{mount / 'basis.sqlite3'}", all_specs)
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb") as file, contextlib.suppress(OSError):
        while True:
            file.write(b"\0" * (256 * 1024))
            file.flush()
    with contextlib.suppress(OSError), filler.open("ab") as file:  # the last few blocks
        while True:
            file.write(b"\0" * 512)
            file.flush()
    return filler


async def stored(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT client_event_id, id FROM events"))).all()
    finally:
        await engine.dispose()
    return {row[0]: row[1] for row in rows}


async def test_a_full_disk_under_sqlite_is_reported_by_ready_and_every_scan_says_what_happened(
    small_disk: Path, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{small_disk / 'basis.sqlite3'}"
    db = Database(url, pool_size=1)
    async with db.sessionmaker() as session:
        hashed = await hash_password(DEFAULT_PASSWORD, profile="fast")
        session.add(
            User(email="disk@example.com", full_name="Disk Admin", role="admin", password_hash=hashed)
        )
        await session.commit()
    await db.dispose()
    monkeypatch.setattr(health, "MIN_FREE_BYTES", 1024 * 1024)
    monkeypatch.setenv("BASIS_TIMETRACKER_TERMINAL_SCAN_COOLDOWN_SECONDS", "0")
    monkeypatch.setattr(terminal, "LAST_SEEN_EVERY", dt.timedelta(0))  # every scan writes "last seen"
    async with make_client(database_url=url, data_dir=str(small_disk / "data")) as client:
        login = await client.post(
            "/auth/login", json={"login": "disk@example.com", "password": DEFAULT_PASSWORD}
        )
        staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
        key = {
            "X-Terminal-Key": (
                await client.post("/api/terminals", json={"name": "Door"}, headers=staff)
            ).json()["api_key"]
        }
        uids = [f"04:D1:00:{n:02X}" for n in range(8)]
        for number, uid in enumerate(uids):
            made = await client.post(
                "/api/employees", json={"full_name": f"W{number}", "nfc_uid": uid}, headers=staff
            )
            assert made.status_code == 201, made.text
        assert (await client.get("/health/ready")).status_code == 200

        filler = fill(small_disk)
        ready = await client.get("/health/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["disk"] == "full" and "disk full" in ready.json()["detail"]
        assert str(small_disk) not in ready.text  # the reason, not the server's paths

        # No room at all, then a little room at a time: some scans are stored, some are not (a
        # failed write keeps the room it took, so the room is given in steps a scan fits in).
        answers: dict[str, httpx.Response] = {}
        for round_ in range(ROUNDS):
            if round_:
                with filler.open("r+b") as file:
                    file.truncate(max(0, filler.stat().st_size - ROOM_PER_ROUND))
            for number, uid in enumerate(uids):
                event = f"full-{round_}-{number}"
                answers[event] = await client.post(
                    "/api/terminal/scan", json={"uid": uid, "client_event_id": event}, headers=key
                )
        for event, answer in answers.items():
            if answer.status_code >= 300:
                assert answer.status_code == 503, (event, answer.status_code, answer.text)
                assert answer.json()["code"] == "scan_not_stored" and "Retry-After" in answer.headers
        on_disk = await stored(url)
        for event, answer in answers.items():
            if answer.status_code < 300:
                assert on_disk.get(event) == answer.json()["event_id"], f"{event} acknowledged, not stored"
            else:
                assert event not in on_disk, f"{event} stored but answered {answer.status_code}"

        assert (await client.get("/health/ready")).status_code == 503
        filler.unlink()
        assert (await client.get("/health/ready")).status_code == 200
        # The terminal resends what was not acknowledged; acknowledged ones replay.
        for event in answers:
            uid = uids[int(event.rsplit("-", 1)[1])]
            again = await client.post(
                "/api/terminal/scan", json={"uid": uid, "client_event_id": event}, headers=key
            )
            assert again.status_code < 300, again.text
            if answers[event].status_code < 300:
                assert again.json()["event_id"] == answers[event].json()["event_id"]
        on_disk = await stored(url)
        assert sorted(e for e in on_disk if e.startswith("full-")) == sorted(answers)
    statuses = [answer.status_code for answer in answers.values()]
    assert 200 in statuses and 503 in statuses, statuses  # both outcomes were exercised


def test_ready_watches_the_disks_basis_writes_to_and_says_why_one_cannot_take_writes(tmp_path: Path) -> None:
    assert health.watched_directories("postgresql+psycopg://basis@db/basis") == []
    sqlite = f"sqlite+aiosqlite:///{tmp_path / 'basis.sqlite3'}"
    assert health.watched_directories(sqlite, [tmp_path / "files", tmp_path]) == [tmp_path.resolve()]
    assert health.disk_problem(tmp_path, min_free=0) is None
    assert not list(tmp_path.iterdir())  # the probe is gone
    assert (health.disk_problem(tmp_path, min_free=2**62) or "").startswith("disk full:")
    if os.geteuid() != 0:  # root writes anywhere: no read-only directory to show then
        tmp_path.chmod(0o500)
        try:
            assert (health.disk_problem(tmp_path, min_free=0) or "").startswith("a write failed:")
        finally:
            tmp_path.chmod(0o700)
