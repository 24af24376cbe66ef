"""Area 8: the payroll summary and its CSV/XLSX exports equal the sums of the daily stats (R10).

The scenario is played with "now" frozen three days after a DST night, so that the open shift
counts to the same instant in every report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine

from tests.apps.timetracker.conftest import TT

from .helpers import (
    HOUR,
    SUMMARY_NUMBERS,
    UTC,
    cell,
    csv_rows,
    daily_sums,
    dates,
    interval_view,
    ms,
    schedule,
    wall,
    xlsx_rows,
)


@dataclass
class Scenario:
    dst_night: dt.date  # the evening the DST night starts
    dst_hours: int  # elapsed hours of 22:00-06:00 that night
    frozen_now: dt.datetime

    def day(self, offset: int) -> dt.date:
        return self.dst_night + dt.timedelta(days=offset)

    def iso(self, offset: int) -> str:
        return self.day(offset).isoformat()


SPRING = Scenario(dt.date(2026, 3, 28), 7, dt.datetime(2026, 3, 31, 10, 0, tzinfo=UTC))
AUTUMN = Scenario(dt.date(2026, 10, 24), 9, dt.datetime(2026, 10, 27, 10, 0, tzinfo=UTC))


async def _play(tt: TT, s: Scenario) -> dict[str, dict[str, Any]]:
    """Nights around the DST night, a forgotten check-out, an open shift and an idle employee."""
    night = await tt.employee(full_name="Nina Nacht", department="Nights")
    forgetful = await tt.employee(full_name='Zoë Żółć; "quoted"', department="Office")
    open_now = await tt.employee(full_name="Otto Open", department="Office")
    idle = await tt.employee(full_name="Ida Idle", department="Office")
    still_in = await tt.employee(full_name="Olga Overnight", department="Nights")
    gone = await tt.employee(full_name="Gus Gone", department="Office")
    left_long_ago = await tt.employee(full_name="Lea Left", department="Office")
    _, key = await tt.terminal()
    cells = [cell(night["id"], s.iso(d), "22:00", "06:00") for d in range(-5, 4)]
    cells += [cell(forgetful["id"], s.iso(d), "08:00", "16:00") for d in range(-3, 0)]
    cells += [cell(idle["id"], s.iso(d), "08:00", "16:00") for d in (-4, -3)]
    cells += [cell(open_now["id"], s.iso(d), "08:00", "16:00") for d in (2, 3)]
    await schedule(tt, cells)

    scans = [
        # Nina: night before (21:55-06:05), the DST night (22:00-06:00), night after (21:58-06:02).
        (night, wall(s.day(-1), 21, 55)),
        (night, wall(s.day(0), 6, 5)),
        (night, wall(s.day(0), 22)),
        (night, wall(s.day(1), 6)),
        (night, wall(s.day(1), 21, 58)),
        (night, wall(s.day(2), 6, 2)),
        # Zoë: a normal day, a forgotten check-out, then the next day's pair.
        (forgetful, wall(s.day(-3), 8)),
        (forgetful, wall(s.day(-3), 16)),
        (forgetful, wall(s.day(-2), 8)),
        (forgetful, wall(s.day(-1), 8, 2)),
        (forgetful, wall(s.day(-1), 16, 10)),
        # Otto: a day, then an IN two hours before "now" that is still open.
        (open_now, wall(s.day(2), 8)),
        (open_now, wall(s.day(2), 16)),
        (open_now, s.frozen_now - dt.timedelta(hours=2)),
        # Olga: came in yesterday at 22:00 and is still in (open over midnight).
        (still_in, wall(s.day(2), 22)),
        # Gus: worked one afternoon, then left the company (deactivated below).
        (gone, wall(s.day(-1), 12)),
        (gone, wall(s.day(-1), 15, 30)),
    ]
    for employee, moment in scans:
        response = await tt.scan(key, employee["nfc_uid"], ms(moment))
        assert response.status_code == 200 and response.json()["status"] == "accepted", response.text
    for leaver in (gone, left_long_ago):
        response = await tt.client.patch(
            f"/api/employees/{leaver['id']}", json={"is_active": False}, headers=tt.admin
        )
        assert response.status_code == 200, response.text
    return {
        "night": night,
        "forgetful": forgetful,
        "open": open_now,
        "idle": idle,
        "still_in": still_in,
        "gone": gone,
        "left_long_ago": left_long_ago,
    }


async def _assert_reports_agree(
    tt: TT, admin: dict[str, str], people: dict[str, dict[str, Any]], first: str, last: str, **filters: Any
) -> dict[int, dict[str, Any]]:
    params = {"from_date": first, "to_date": last, **filters}
    response = await tt.client.get("/api/stats/summary", params=params, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    rows = body["items"] if isinstance(body, dict) else body
    summary = {row["employee_id"]: row for row in rows}
    assert len(summary) == len(rows)
    csv_table = await csv_rows(tt, params, admin)
    xlsx_table = await xlsx_rows(tt, params, admin)
    assert set(csv_table) == set(summary) == set(xlsx_table), (first, last)
    by_id = {p["id"]: p for p in people.values()}
    for employee_id, row in summary.items():
        sums = await daily_sums(tt, employee_id, first, last, headers=admin)
        assert {k: row[k] for k in SUMMARY_NUMBERS} == sums, (first, last, by_id[employee_id]["full_name"])
        assert row["full_name"] == by_id[employee_id]["full_name"]
        assert row["department"] == by_id[employee_id]["department"]
        for table in (csv_table, xlsx_table):
            line = table[employee_id]
            assert {k: int(line[k]) for k in SUMMARY_NUMBERS} == sums, (first, last, line)
            assert str(line["full_name"]) == row["full_name"]
    return summary


@pytest.mark.parametrize("s", [SPRING, AUTUMN], ids=["spring_forward", "fall_back"])
async def test_summary_csv_and_xlsx_equal_the_daily_stats(tt: TT, s: Scenario) -> None:
    with time_machine.travel(s.frozen_now, tick=False):
        admin = tt.admin = await tt.headers("admin")  # tokens are issued in the travelled time
        people = await _play(tt, s)
        full = (s.iso(-5), s.iso(3))
        month_first = s.day(0).replace(day=1).isoformat()
        ranges = [
            full,
            (s.iso(0), s.iso(0)),  # the evening of the DST night only
            (s.iso(1), s.iso(1)),  # the DST day itself
            (s.iso(-2), s.iso(-2)),  # the forgotten check-out
            (s.iso(3), s.iso(3)),  # today: the open shift
            (month_first, s.iso(3)),
            (s.iso(-1), s.iso(1)),
        ]
        active = {people[k]["id"] for k in ("night", "forgetful", "open", "idle", "still_in")}
        for first, last in ranges:
            summary = await _assert_reports_agree(tt, admin, people, first, last)
            # Active employees, plus inactive ones with events in the range; no one else.
            gone_worked = first <= s.iso(-1) <= last
            assert set(summary) == active | ({people["gone"]["id"]} if gone_worked else set()), (first, last)

        # Known figures over the full range, checked against the wall clock.
        summary = await _assert_reports_agree(tt, admin, people, *full)
        night = summary[people["night"]["id"]]
        assert night["worked_seconds"] == (8 * HOUR + 600) + s.dst_hours * HOUR + (8 * HOUR + 240)
        assert night["missing_out_count"] == 0
        forgetful = summary[people["forgetful"]["id"]]
        assert forgetful["worked_seconds"] == 8 * HOUR + 8 * HOUR + 8 * 60
        assert forgetful["missing_out_count"] == 1
        open_row = summary[people["open"]["id"]]
        assert open_row["worked_seconds"] == 8 * HOUR + 2 * HOUR  # the open IN counts up to now
        assert open_row["missing_out_count"] == 0
        still_in = summary[people["still_in"]["id"]]
        assert still_in["worked_seconds"] == int((s.frozen_now - wall(s.day(2), 22)).total_seconds())
        assert still_in["missing_out_count"] == 0
        assert summary[people["gone"]["id"]]["worked_seconds"] == 3 * HOUR + 1800
        idle = summary[people["idle"]["id"]]
        assert idle["worked_seconds"] == 0 and idle["overtime_seconds"] == 0
        assert idle["missing_out_count"] == 0 and idle["absent_days"] == 2

        # The DST night's evening alone: 2 h; the DST day: the morning part plus the next evening.
        evening = await _assert_reports_agree(tt, admin, people, s.iso(0), s.iso(0))
        assert evening[people["night"]["id"]]["worked_seconds"] == 6 * HOUR + 5 * 60 + 2 * HOUR
        dst_day = await _assert_reports_agree(tt, admin, people, s.iso(1), s.iso(1))
        assert (
            dst_day[people["night"]["id"]]["worked_seconds"] == (s.dst_hours - 2) * HOUR + 2 * HOUR + 2 * 60
        )

        # The department filter narrows every report the same way.
        nights = await _assert_reports_agree(tt, admin, people, *full, department="Nights")
        assert set(nights) == {people["night"]["id"], people["still_in"]["id"]}
        only = await _assert_reports_agree(tt, admin, people, *full, employee_id=people["forgetful"]["id"])
        assert set(only) == {people["forgetful"]["id"]}


async def test_employee_without_events_gets_zeros_not_404(tt: TT) -> None:
    employee = await tt.employee()
    first, last = "2026-03-23", "2026-04-05"
    report = await tt.daily(employee["id"], first, last)
    assert [d["date_local"] for d in report["items"]] == dates(first, last)
    assert all(d["worked_seconds"] == 0 and d["worked_hms"] == "0:00:00" for d in report["items"])
    assert all(d["open_shift"] is False and d["anomalies"] == [] for d in report["items"])
    assert report["total_seconds"] == 0 and report["total_hms"] == "0:00:00"
    assert all(w["worked_seconds"] == 0 for w in report["weeks"]) and len(report["weeks"]) == 2
    assert [m["month"] for m in report["months"]] == ["2026-03", "2026-04"]
    view = await interval_view(tt, employee["id"], first, last)
    assert view["total_seconds"] == 0 and view["intervals"] == [] and view["open_shift"] is False
    params = {"from_date": first, "to_date": last}
    [row] = [
        r
        for r in (await tt.client.get("/api/stats/summary", params=params, headers=tt.admin)).json()["items"]
        if r["employee_id"] == employee["id"]
    ]
    assert {k: row[k] for k in SUMMARY_NUMBERS} == dict.fromkeys(SUMMARY_NUMBERS, 0)
    line = (await csv_rows(tt, params, tt.admin))[employee["id"]]
    assert [int(line[k]) for k in SUMMARY_NUMBERS] == [0] * len(SUMMARY_NUMBERS)
    line = (await xlsx_rows(tt, params, tt.admin))[employee["id"]]
    assert [int(line[k]) for k in SUMMARY_NUMBERS] == [0] * len(SUMMARY_NUMBERS)
