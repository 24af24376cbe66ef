"""The /api/login alias, the admin panel views, demo data and the export command."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker.app import spec
from basis.apps.timetracker.models import Employee, Event, Schedule, Terminal
from basis.core.time import utcnow
from basis.settings import Settings
from tests.apps.timetracker.conftest import TT
from tests.fixtures.auth import DEFAULT_PASSWORD
from tests.support.live import ROOT, settings_env


async def test_api_login_accepts_username_or_email(tt: TT) -> None:
    await tt.make_user(role="operator", username="HR.Desk", email="hr@example.com")
    by_name = await tt.client.post("/api/login", json={"username": "hr.desk", "password": DEFAULT_PASSWORD})
    assert by_name.status_code == 200, by_name.text
    body = by_name.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    assert by_name.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await tt.client.get("/api/employees", headers=headers)).status_code == 200
    by_email = await tt.client.post(
        "/api/login", json={"username": "HR@example.com", "password": DEFAULT_PASSWORD}
    )
    assert by_email.status_code == 200
    wrong = await tt.client.post("/api/login", json={"username": "hr.desk", "password": "nope-nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"
    assert (await tt.client.post("/api/login", json={"username": "hr.desk"})).status_code == 422


async def test_api_login_shares_the_login_rate_limit(tt: TT) -> None:
    await tt.make_user(role="admin", username="boss")
    statuses = []
    for _ in range(6):
        response = await tt.client.post("/api/login", json={"username": "boss", "password": "wrong-password"})
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    blocked = await tt.client.post("/api/login", json={"username": "boss", "password": DEFAULT_PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    other_door = await tt.client.post("/auth/login", json={"username": "boss", "password": DEFAULT_PASSWORD})
    assert other_door.status_code == 429


async def _admin_panel(tt: TT) -> None:
    await tt.make_user(role="admin", email="panel@example.com")
    response = await tt.client.post(
        "/admin/login", data={"username": "panel@example.com", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code in (302, 303), response.text


async def test_admin_panel_views(tt: TT) -> None:
    inside = await tt.employee(full_name="Irena Inside")
    left = await tt.employee(full_name="Lech Left")
    _, key = await tt.terminal(name="Panel door")
    now = utcnow()
    await tt.scan(key, inside["nfc_uid"], now - dt.timedelta(hours=2))
    await tt.scan(key, left["nfc_uid"], now - dt.timedelta(hours=3))
    await tt.scan(key, left["nfc_uid"], now - dt.timedelta(hours=1))
    await _admin_panel(tt)
    who = await tt.client.get("/admin/timetracker/who-is-in")
    assert who.status_code == 200
    assert "Irena Inside" in who.text and "Lech Left" not in who.text
    terminals = await tt.client.get("/admin/terminal/list")
    assert terminals.status_code == 200 and "Panel door" in terminals.text
    from basis.apps.timetracker.keys import hash_key

    assert hash_key(key) not in terminals.text
    for path in (
        "/admin/employee/list",
        "/admin/event/list",
        "/admin/schedule/list",
        "/admin/audit-entry/list",
    ):
        assert (await tt.client.get(path)).status_code == 200, path
    for path in ("/admin/employee/create", "/admin/terminal/create", "/admin/schedule/create"):
        assert (await tt.client.get(path)).status_code == 200, path
    saved = await tt.client.post(
        "/admin/schedule/create",
        data={
            "employee_id": str(inside["id"]),
            "day": "2026-10-20",
            "start": "22:00",
            "end": "06:00",
            "code": "work",
        },
    )
    assert saved.status_code in (302, 303), saved.text[-2000:]
    cells = (
        await tt.client.get(
            "/api/schedules", params={"from_date": "2026-10-20", "to_date": "2026-10-20"}, headers=tt.admin
        )
    ).json()["items"]
    assert [(c["employee_id"], c["start"], c["end"], c["overnight"]) for c in cells] == [
        (inside["id"], "22:00", "06:00", True)
    ]


async def test_admin_panel_event_correction_needs_a_reason(tt: TT) -> None:
    employee = await tt.employee()
    event = (await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN")).json()
    await _admin_panel(tt)
    url = f"/admin/event/edit/{event['id']}"
    without = await tt.client.post(url, data={"comment": "x", "timestamp": "", "direction": "", "reason": ""})
    assert without.status_code == 400
    done = await tt.client.post(
        url,
        data={"comment": "badge", "timestamp": "2026-10-20T07:45:00", "direction": "", "reason": "badge log"},
    )
    assert done.status_code in (302, 303), done.text
    moved = (await tt.client.get(f"/api/events/{event['id']}", headers=tt.admin)).json()
    assert moved["ts"].startswith("2026-10-20T05:45:00")
    audit = (
        await tt.client.get(
            "/api/audit", params={"entity": "event", "entity_id": event["id"]}, headers=tt.admin
        )
    ).json()["items"]
    assert audit[0]["reason"] == "badge log" and audit[0]["actor"] == "panel@example.com"


def _progress() -> tuple[list[Any], Any]:
    calls: list[Any] = []

    def progress(advance: int = 1, total: int | None = None, description: str | None = None) -> None:
        calls.append((advance, total, description))

    return calls, progress


async def test_demo_data(session: AsyncSession, settings: Settings, tt: TT) -> None:
    calls, progress = _progress()
    assert spec.demo is not None
    await spec.demo(session=session, settings=settings, progress=progress, size="small")
    assert await session.scalar(select(func.count()).select_from(Employee)) == 20
    assert await session.scalar(select(func.count()).select_from(Terminal)) == 3
    assert await session.scalar(select(func.count()).select_from(Schedule)) > 20 * 28
    night_shifts = await session.scalar(
        select(func.count()).select_from(Schedule).where(Schedule.end < Schedule.start)
    )
    assert night_shifts and night_shifts > 0
    events = (await session.execute(select(Event).order_by(Event.employee_id, Event.ts))).scalars().all()
    assert len(events) > 500
    for a, b in itertools.pairwise(events):
        if a.employee_id == b.employee_id:
            assert (b.ts - a.ts) >= dt.timedelta(seconds=5)  # double taps were refused (R4)
    offline = await session.scalar(select(Terminal.id).where(Terminal.name == "Night door"))
    late = [e for e in events if e.terminal_id == offline]
    assert late and all(e.received_at - e.ts >= dt.timedelta(hours=1) for e in late)
    assert sum(a for a, _, _ in calls) >= 20 and calls[-1][2]
    # A second run adds nothing.
    await spec.demo(session=session, settings=settings, progress=progress, size="small")
    assert await session.scalar(select(func.count()).select_from(Employee)) == 20
    # The stats of a demo employee work through the API.
    employee_id = events[0].employee_id
    await session.rollback()  # SQLite: end this session's transaction so the app can write
    today = utcnow().date()
    report = await tt.daily(employee_id, (today - dt.timedelta(days=40)).isoformat(), today.isoformat())
    assert report["total_seconds"] > 0


async def _run_cli(settings_values: dict[str, Any], cwd: Path, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basis.cli",
        *args,
        cwd=cwd,
        env=settings_env(settings_values),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode()


async def test_export_command_writes_the_same_rows_as_the_api(
    tt: TT, settings_values: dict[str, Any], tmp_path: Path
) -> None:
    a = await tt.employee(full_name="Alicja", department="Office")
    b = await tt.employee(full_name="Bogdan", department="Office")
    await tt.manual(a["id"], "2026-03-10T08:00:00", "IN")
    await tt.manual(a["id"], "2026-03-10T16:15:00", "OUT")
    await tt.manual(b["id"], "2026-03-28T22:00:00", "IN")
    await tt.manual(b["id"], "2026-03-29T06:00:00", "OUT")
    target = tmp_path / "march.csv"
    code, output = await _run_cli(
        settings_values, ROOT, "timetracker", "export", "--month", "2026-03", "--output", str(target)
    )
    assert code == 0, output
    assert "2 employee row(s)" in output
    api = await tt.client.get(
        "/api/export/worktime.csv",
        params={"from_date": "2026-03-01", "to_date": "2026-03-31"},
        headers=tt.admin,
    )
    assert target.read_bytes() == api.content
    xlsx = tmp_path / "march.xlsx"
    code, output = await _run_cli(
        settings_values,
        ROOT,
        "timetracker",
        "export",
        "--month",
        "2026-03",
        "--format",
        "xlsx",
        "--output",
        str(xlsx),
    )
    assert code == 0 and xlsx.read_bytes().startswith(b"PK")
    code, output = await _run_cli(settings_values, ROOT, "timetracker", "export", "--month", "March")
    assert code == 2 and "YYYY-MM" in output and "Traceback" not in output


async def test_demo_data_is_added_beside_data_that_looks_like_it(
    session: AsyncSession, settings: Settings, tt: TT
) -> None:
    # The guide's own example terminal, and a card the demo would have given its first employee.
    await tt.terminal(name="Main entrance")
    await tt.employee(full_name="Real Person", nfc_uid="04D00000A1B2")
    calls, progress = _progress()
    assert spec.demo is not None
    await spec.demo(session=session, settings=settings, progress=progress, size="small")
    assert await session.scalar(select(func.count()).select_from(Employee)) == 21
    names = set(await session.scalars(select(Terminal.name)))
    assert names == {"Main entrance", "Main entrance (demo)", "Warehouse gate", "Night door"}
    assert await session.scalar(select(func.count()).select_from(Event)) > 500
    assert "already present" not in str(calls)
    await session.rollback()
    marker = (await tt.client.get("/api/audit", params={"entity": "demo"}, headers=tt.admin)).json()
    assert [(e["action"], e["actor"]) for e in marker["items"]] == [("demo_data", None)]
    # The demo's own marker, not a name, says it is there: a second run adds nothing.
    calls, progress = _progress()
    await spec.demo(session=session, settings=settings, progress=progress, size="small")
    assert await session.scalar(select(func.count()).select_from(Employee)) == 21
    assert await session.scalar(select(func.count()).select_from(Terminal)) == 4
    assert "already present" in str(calls)
