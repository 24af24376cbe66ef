"""Worked hours through the API: DST nights (R1), zero-filled ranges (R10), plan vs actual,
open shifts and who may read what."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import pytest

from basis.apps.timetracker import engine
from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT


async def _schedule(
    tt: TT, employee_id: int, day: str, start: str | None, end: str | None, code: str = "work"
) -> None:
    response = await tt.client.post(
        "/api/schedules",
        json={"cells": [{"employee_id": employee_id, "day": day, "start": start, "end": end, "code": code}]},
        headers=tt.admin,
    )
    assert response.status_code == 200 and response.json()["errors"] == [], response.text


async def test_spring_forward_night_is_two_plus_five_hours(tt: TT) -> None:
    employee = await tt.employee()
    await _schedule(tt, employee["id"], "2026-03-28", "22:00", "06:00")
    await tt.manual(employee["id"], "2026-03-28T22:00:00", "IN")
    await tt.manual(employee["id"], "2026-03-29T06:00:00", "OUT")
    report = await tt.daily(employee["id"], "2026-03-28", "2026-03-29")
    saturday, sunday = report["items"]
    assert saturday["worked_seconds"] == 2 * 3600 and saturday["worked_hms"] == "2:00:00"
    assert sunday["worked_seconds"] == 5 * 3600
    assert saturday["first_in_local"] == "22:00:00" and sunday["last_out_local"] == "06:00:00"
    # The plan is elapsed time too: 22:00-06:00 that night is 7 h, so no overtime.
    assert saturday["expected_seconds"] == 7 * 3600 and saturday["overtime_seconds"] == 0
    assert saturday["late_minutes"] == 0 and saturday["absent"] is False
    assert report["total_seconds"] == 7 * 3600 and report["total_hms"] == "7:00:00"


async def test_fall_back_night_is_two_plus_seven_hours(tt: TT) -> None:
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-10-24T22:00:00", "IN")
    await tt.manual(employee["id"], "2026-10-25T06:00:00", "OUT")
    report = await tt.daily(employee["id"], "2026-10-24", "2026-10-25")
    assert [d["worked_seconds"] for d in report["items"]] == [2 * 3600, 7 * 3600]
    intervals = (
        await tt.client.get(
            f"/api/stats/employee/{employee['id']}",
            params={"from_date": "2026-10-24", "to_date": "2026-10-25"},
            headers=tt.admin,
        )
    ).json()
    assert intervals["total_seconds"] == 9 * 3600
    [interval] = intervals["intervals"]
    assert interval["seconds"] == 9 * 3600 and interval["open"] is False
    assert interval["in_local"].startswith("2026-10-24T22:00:00") and interval["in_local"].endswith("+02:00")
    assert interval["out_local"].startswith("2026-10-25T06:00:00") and interval["out_local"].endswith(
        "+01:00"
    )


async def test_employee_without_events_gets_zeros_for_every_day(tt: TT) -> None:
    employee = await tt.employee()
    report = await tt.daily(employee["id"], "2026-03-25", "2026-04-02")
    assert [d["date_local"] for d in report["items"]] == [
        (dt.date(2026, 3, 25) + dt.timedelta(days=i)).isoformat() for i in range(9)
    ]
    assert all(d["worked_seconds"] == 0 and d["worked_hms"] == "0:00:00" for d in report["items"])
    assert report["total_seconds"] == 0
    assert report["weeks"] == [
        {"week_start": "2026-03-25", "week_end": "2026-03-29", "worked_seconds": 0, "worked_hms": "0:00:00"},
        {"week_start": "2026-03-30", "week_end": "2026-04-02", "worked_seconds": 0, "worked_hms": "0:00:00"},
    ]
    assert [(m["month"], m["start"], m["end"]) for m in report["months"]] == [
        ("2026-03", "2026-03-25", "2026-03-31"),
        ("2026-04", "2026-04-01", "2026-04-02"),
    ]
    view = (
        await tt.client.get(
            f"/api/stats/employee/{employee['id']}",
            params={"date_from": "2026-03-01", "date_to": "2026-03-31"},
            headers=tt.admin,
        )
    ).json()
    assert view["total_seconds"] == 0 and view["intervals"] == [] and view["open_shift"] is False
    assert view["from_date"] == "2026-03-01"


async def test_default_range_is_the_current_month_and_open_shifts_count_to_now(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    await tt.scan(key, employee["nfc_uid"], utcnow() - dt.timedelta(hours=1))
    view = (await tt.client.get(f"/api/stats/employee/{employee['id']}", headers=tt.admin)).json()
    today = utcnow().date()
    assert view["from_date"] == today.replace(day=1).isoformat()
    assert view["open_shift"] is True
    [interval] = view["intervals"]
    assert interval["open"] is True and interval["out_utc"] is None
    assert 3590 <= interval["seconds"] <= 3700
    report = (await tt.client.get(f"/api/stats/employee/{employee['id']}/daily", headers=tt.admin)).json()
    assert any(d["open_shift"] for d in report["items"])
    assert all(d["last_out_local"] is None for d in report["items"])


async def test_plan_versus_actual(tt: TT) -> None:
    employee = await tt.employee()
    await _schedule(tt, employee["id"], "2026-10-20", "08:00", "16:00")
    await _schedule(tt, employee["id"], "2026-10-21", "08:00", "16:00")
    await _schedule(tt, employee["id"], "2026-10-22", None, None, code="vacation")
    await _schedule(tt, employee["id"], "2026-10-23", "08:00", "16:00")
    await tt.manual(employee["id"], "2026-10-20T08:20:00", "IN")
    await tt.manual(employee["id"], "2026-10-20T15:50:00", "OUT")
    await tt.manual(employee["id"], "2026-10-23T07:30:00", "IN")
    await tt.manual(employee["id"], "2026-10-23T17:00:00", "OUT")
    late, absent, vacation, long_day = (await tt.daily(employee["id"], "2026-10-20", "2026-10-23"))["items"]
    assert late["late_minutes"] == 20 and late["early_exit_minutes"] == 10 and late["overtime_seconds"] == 0
    assert late["expected_seconds"] == 8 * 3600 and late["schedule_code"] == "work"
    assert absent["absent"] is True and absent["worked_seconds"] == 0
    assert vacation["absent"] is False and vacation["expected_seconds"] == 0
    assert long_day["overtime_seconds"] == int(1.5 * 3600) and long_day["late_minutes"] == 0
    summary = (
        await tt.client.get(
            "/api/stats/summary",
            params={"from_date": "2026-10-20", "to_date": "2026-10-23"},
            headers=tt.admin,
        )
    ).json()
    [row] = [r for r in summary["items"] if r["employee_id"] == employee["id"]]
    assert row["absent_days"] == 1 and row["expected_seconds"] == 24 * 3600
    assert row["worked_seconds"] == int(7.5 * 3600) + int(9.5 * 3600)
    assert row["overtime_seconds"] == int(1.5 * 3600)


async def test_changed_zone_re_buckets_history(tt: TT) -> None:
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-10-20T23:00:00Z", "IN")
    await tt.manual(employee["id"], "2026-10-21T01:00:00Z", "OUT")
    warsaw = await tt.daily(employee["id"], "2026-10-20", "2026-10-21")
    assert [d["worked_seconds"] for d in warsaw["items"]] == [0, 7200]
    await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"timezone": "Atlantic/Reykjavik"}, headers=tt.admin
    )
    reykjavik = await tt.daily(employee["id"], "2026-10-20", "2026-10-21")
    assert [d["worked_seconds"] for d in reykjavik["items"]] == [3600, 3600]
    assert reykjavik["timezone"] == "Atlantic/Reykjavik"


async def test_range_errors(tt: TT) -> None:
    employee = await tt.employee()
    reversed_range = await tt.client.get(
        f"/api/stats/employee/{employee['id']}/daily",
        params={"from_date": "2026-03-10", "to_date": "2026-03-01"},
        headers=tt.admin,
    )
    assert reversed_range.status_code == 422
    bad_date = await tt.client.get(
        f"/api/stats/employee/{employee['id']}/daily", params={"from_date": "March"}, headers=tt.admin
    )
    assert bad_date.status_code == 422
    too_long = await tt.client.get(
        f"/api/stats/employee/{employee['id']}/daily",
        params={"from_date": "2020-01-01", "to_date": "2026-01-01"},
        headers=tt.admin,
    )
    assert too_long.status_code == 422
    assert (await tt.client.get("/api/stats/employee/999999/daily", headers=tt.admin)).status_code == 404


async def test_self_service_reads_only_the_linked_employee(tt: TT) -> None:
    mine = await tt.employee()
    theirs = await tt.employee()
    user = await tt.make_user(role="user")
    from tests.fixtures.auth import bearer_for

    headers = await bearer_for(tt.session, tt.settings, user)
    # Not linked yet: nothing.
    assert (
        await tt.client.get(f"/api/stats/employee/{mine['id']}/daily", headers=headers)
    ).status_code == 403
    assert (await tt.client.get("/api/events", headers=headers)).status_code == 403
    linked = await tt.client.patch(
        f"/api/employees/{mine['id']}", json={"user_id": user.id}, headers=tt.admin
    )
    assert linked.status_code == 200 and linked.json()["user_id"] == user.id
    await tt.manual(mine["id"], "2026-10-20T08:00:00", "IN")
    await tt.manual(theirs["id"], "2026-10-20T08:00:00", "IN")
    own = await tt.client.get(
        f"/api/stats/employee/{mine['id']}/daily",
        params={"from_date": "2026-10-20", "to_date": "2026-10-20"},
        headers=headers,
    )
    assert own.status_code == 200
    assert (await tt.client.get(f"/api/stats/employee/{mine['id']}", headers=headers)).status_code == 200
    events = (await tt.client.get("/api/events", headers=headers)).json()
    assert [e["employee_id"] for e in events["items"]] == [mine["id"]]
    event_id = events["items"][0]["id"]
    assert (await tt.client.get(f"/api/events/{event_id}", headers=headers)).status_code == 200
    for path in (
        f"/api/stats/employee/{theirs['id']}/daily",
        f"/api/stats/employee/{theirs['id']}",
        f"/api/employees/{mine['id']}",
        "/api/employees",
        "/api/stats/summary",
        "/api/export/worktime.csv",
        "/api/schedules",
        "/api/terminals",
        "/api/audit",
    ):
        assert (await tt.client.get(path, headers=headers)).status_code == 403, path
    other = await tt.client.get("/api/events", params={"employee_id": theirs["id"]}, headers=headers)
    assert other.status_code == 403
    their_event = (await tt.events(theirs["id"]))[0]["id"]
    assert (await tt.client.get(f"/api/events/{their_event}", headers=headers)).status_code == 403
    # A user may not be linked to two employees.
    twice = await tt.client.patch(
        f"/api/employees/{theirs['id']}", json={"user_id": user.id}, headers=tt.admin
    )
    assert twice.status_code == 409 and twice.json()["code"] == "user_already_linked"


async def test_operator_reads_stats_and_anonymous_reads_nothing(tt: TT) -> None:
    employee = await tt.employee()
    operator = await tt.headers("operator")
    assert (
        await tt.client.get(f"/api/stats/employee/{employee['id']}/daily", headers=operator)
    ).status_code == 200
    assert (await tt.client.get(f"/api/stats/employee/{employee['id']}/daily")).status_code == 401
    assert (await tt.client.get("/api/stats/summary", headers=operator)).status_code == 200


async def test_schedule_end_policy_closes_a_forgotten_shift(tt: TT, make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(timetracker_missing_out_policy="schedule_end") as client:
        tt.client = client
        employee = await tt.employee()
        unscheduled = await tt.employee()
        await _schedule(tt, employee["id"], "2026-10-20", "08:00", "16:00")
        await tt.manual(employee["id"], "2026-10-20T08:05:00", "IN")
        await tt.manual(unscheduled["id"], "2026-10-20T08:05:00", "IN")
        day = (await tt.daily(employee["id"], "2026-10-20", "2026-10-20"))["items"][0]
        assert day["worked_seconds"] == 8 * 3600 - 300 and day["auto_closed"] is True
        assert [a["code"] for a in day["anomalies"]] == ["MISSING_OUT"]
        assert day["last_out_local"] == "16:00:00"
        # No schedule that day: the flag policy applies, nothing is invented.
        other = (await tt.daily(unscheduled["id"], "2026-10-20", "2026-10-20"))["items"][0]
        assert other["worked_seconds"] == 0 and other["auto_closed"] is False


async def test_the_payroll_summary_leaves_the_server_answering_meanwhile(
    tt: TT, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payroll month is half a second of engine: the process must go on serving scans."""
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-03-02T08:00:00", "IN")
    await tt.manual(employee["id"], "2026-03-02T16:00:00", "OUT")
    started, release = threading.Event(), threading.Event()
    computed = engine.summary_row

    def held_engine(*args: Any, **kwargs: Any) -> engine.SummaryRow:
        started.set()
        # Only a coroutine of the same event loop releases it: on the loop's own thread this
        # would wait in vain.
        assert release.wait(timeout=10), "the engine ran on the event loop"
        return computed(*args, **kwargs)

    monkeypatch.setattr(engine, "summary_row", held_engine)
    params = {"from_date": "2026-03-01", "to_date": "2026-03-31"}
    request = asyncio.create_task(tt.client.get("/api/stats/summary", params=params, headers=tt.admin))
    async with asyncio.timeout(10):
        while not started.is_set():
            await asyncio.sleep(0.01)
    health = await tt.client.get("/health")
    summary_pending = not request.done()
    release.set()
    response = await request
    assert health.status_code == 200 and summary_pending  # answered while the summary computed
    assert response.status_code == 200, response.text
    [row] = [r for r in response.json()["items"] if r["employee_id"] == employee["id"]]
    assert row["worked_seconds"] == 8 * 3600
