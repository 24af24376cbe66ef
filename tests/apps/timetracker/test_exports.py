"""R10: the payroll summary and its CSV/XLSX exports equal the sums of the daily stats."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from openpyxl import load_workbook

from tests.apps.timetracker.conftest import TT

COLUMNS = [
    "employee_id",
    "full_name",
    "department",
    "worked_seconds",
    "expected_seconds",
    "overtime_seconds",
    "missing_out_count",
    "absent_days",
]
NUMBERS = COLUMNS[3:]
# Added at the end, so that clients reading the columns above by position keep working.
HOURS = ["worked_hours", "expected_hours", "overtime_hours", "worked_hm", "expected_hm", "overtime_hm"]


async def _month_of_work(tt: TT) -> list[dict[str, Any]]:
    night = await tt.employee(full_name="Nina Night", department="Security")
    day = await tt.employee(full_name="Dan Day", department="Office")
    idle = await tt.employee(full_name="Ida Idle", department="Office")
    gone = await tt.employee(full_name="Gus Gone", department="Office")
    cells = []
    for d in range(23, 32):
        cells.append(
            {
                "employee_id": night["id"],
                "day": f"2026-03-{d:02d}",
                "start_hhmm": "22:00",
                "end_hhmm": "06:00",
            }
        )
        cells.append({"employee_id": day["id"], "day": f"2026-03-{d:02d}", "code": "8-16"})
        cells.append({"employee_id": idle["id"], "day": f"2026-03-{d:02d}", "code": "8-16"})
    saved = await tt.client.post("/api/schedules", json={"cells": cells}, headers=tt.admin)
    assert saved.json()["saved"] == len(cells) and saved.json()["errors"] == []
    for d in (27, 28, 29):
        await tt.manual(night["id"], f"2026-03-{d:02d}T21:55:00", "IN")
        await tt.manual(night["id"], f"2026-03-{d + 1:02d}T06:05:00", "OUT")
    await tt.manual(night["id"], "2026-03-30T22:00:00", "IN")  # forgotten check-out
    for d in (23, 24, 25, 26):
        await tt.manual(day["id"], f"2026-03-{d:02d}T08:10:00", "IN")
        await tt.manual(day["id"], f"2026-03-{d:02d}T16:40:00", "OUT")
    await tt.manual(gone["id"], "2026-03-24T09:00:00", "IN")
    await tt.manual(gone["id"], "2026-03-24T12:00:00", "OUT")
    await tt.client.patch(f"/api/employees/{gone['id']}", json={"is_active": False}, headers=tt.admin)
    left_earlier = await tt.employee(full_name="Lea Left")
    await tt.client.patch(f"/api/employees/{left_earlier['id']}", json={"is_active": False}, headers=tt.admin)
    return [night, day, idle, gone, left_earlier]


async def _daily_sums(tt: TT, employee_id: int, first: str, last: str) -> dict[str, int]:
    report = await tt.daily(employee_id, first, last)
    items = report["items"]
    assert report["total_seconds"] == sum(d["worked_seconds"] for d in items)
    return {
        "worked_seconds": sum(d["worked_seconds"] for d in items),
        "expected_seconds": sum(d["expected_seconds"] for d in items),
        "overtime_seconds": sum(d["overtime_seconds"] for d in items),
        "missing_out_count": sum(1 for d in items for a in d["anomalies"] if a["code"] == "MISSING_OUT"),
        "absent_days": sum(1 for d in items if d["absent"]),
    }


async def test_summary_and_exports_equal_the_daily_stats(tt: TT) -> None:
    night, day, idle, gone, left_earlier = await _month_of_work(tt)
    for first, last in [
        ("2026-03-23", "2026-03-31"),
        ("2026-03-28", "2026-03-29"),
        ("2026-03-29", "2026-03-29"),
        ("2026-03-01", "2026-04-30"),
    ]:
        params = {"from_date": first, "to_date": last}
        summary = (await tt.client.get("/api/stats/summary", params=params, headers=tt.admin)).json()
        rows = {row["employee_id"]: row for row in summary["items"]}
        assert set(rows) == {night["id"], day["id"], idle["id"], gone["id"]} or (
            gone["id"] not in rows and set(rows) == {night["id"], day["id"], idle["id"]}
        )
        assert left_earlier["id"] not in rows  # inactive, no events: not on the payroll
        for employee_id, row in rows.items():
            assert {k: row[k] for k in NUMBERS} == await _daily_sums(tt, employee_id, first, last), (
                first,
                employee_id,
            )

        csv_response = await tt.client.get("/api/export/worktime.csv", params=params, headers=tt.admin)
        assert csv_response.status_code == 200
        assert csv_response.headers["content-type"].startswith("text/csv")
        assert f"worktime_{first}_{last}.csv" in csv_response.headers["content-disposition"]
        assert csv_response.content.startswith(b"\xef\xbb\xbf")
        lines = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig")), delimiter=";"))
        assert lines[0] == COLUMNS + HOURS
        assert len(lines) == 1 + len(rows)  # one row per employee, no totals row
        for line in lines[1:]:
            row = rows[int(line[0])]
            assert line[1] == row["full_name"] and line[2] == (row["department"] or "")
            assert [int(v) for v in line[3:8]] == [row[k] for k in NUMBERS]
            seconds = [row[k] for k in NUMBERS[:3]]
            assert [float(v.replace(",", ".")) for v in line[8:11]] == [round(s / 3600, 2) for s in seconds]
            assert line[11:] == [f"{s // 3600}:{s % 3600 // 60:02d}" for s in seconds]

        xlsx = await tt.client.get("/api/export/worktime.xlsx", params=params, headers=tt.admin)
        assert xlsx.status_code == 200
        sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
        table = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert table[0] == COLUMNS + HOURS and len(table) == 1 + len(rows)
        for line in table[1:]:
            row = rows[line[0]]
            assert line[3:8] == [row[k] for k in NUMBERS]
            seconds = [row[k] for k in NUMBERS[:3]]
            assert line[8:11] == [round(s / 3600, 2) for s in seconds]
            assert line[11:] == [dt.timedelta(minutes=s // 60) for s in seconds]


async def test_the_spring_night_in_the_payroll(tt: TT) -> None:
    night, *_ = await _month_of_work(tt)
    params = {"from_date": "2026-03-23", "to_date": "2026-03-31", "employee_id": night["id"]}
    [row] = (await tt.client.get("/api/stats/summary", params=params, headers=tt.admin)).json()["items"]
    # Nights 27-28, 28-29 (the 7 h night: 22:00-06:00 minus the lost hour), 29-30; 5 min early, 5 late.
    assert row["worked_seconds"] == 3 * (8 * 3600 + 600) - 3600
    assert row["missing_out_count"] == 1
    # Expected: nine scheduled nights, one of them 7 h.
    assert row["expected_seconds"] == 9 * 8 * 3600 - 3600


async def test_exports_give_hours_as_payroll_clerks_read_them(tt: TT) -> None:
    clerk = await tt.employee(full_name="Celina Clerk")
    await tt.client.post(
        "/api/schedules",
        json={"cells": [{"employee_id": clerk["id"], "day": "2026-03-10", "code": "8-16"}]},
        headers=tt.admin,
    )
    await tt.manual(clerk["id"], "2026-03-10T08:00:00", "IN")
    await tt.manual(clerk["id"], "2026-03-10T16:29:45", "OUT")
    params = {"from_date": "2026-03-01", "to_date": "2026-03-31"}
    content = (await tt.client.get("/api/export/worktime.csv", params=params, headers=tt.admin)).content
    header, line = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    row = dict(zip(header, line, strict=True))
    assert row["worked_seconds"] == "30585" and row["expected_seconds"] == "28800"
    # Decimal hours to the hundredth with a decimal comma (the ';' file is for Excel in Central
    # Europe, where "8.50" would be text or a date); h:mm in whole minutes, like the daily stats.
    assert (row["worked_hours"], row["worked_hm"]) == ("8,50", "8:29")
    assert (row["expected_hours"], row["expected_hm"]) == ("8,00", "8:00")
    assert (row["overtime_hours"], row["overtime_hm"]) == ("0,50", "0:29")
    xlsx = await tt.client.get("/api/export/worktime.xlsx", params=params, headers=tt.admin)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = {sheet.cell(1, c).value: sheet.cell(2, c) for c in range(1, sheet.max_column + 1)}
    # Real numbers and durations in the workbook, so that a clerk's SUM() works.
    assert cells["worked_hours"].value == 8.5 and cells["worked_hours"].number_format == "0.00"
    assert cells["worked_hm"].value == dt.timedelta(hours=8, minutes=29)
    assert cells["worked_hm"].number_format == "[h]:mm"


async def test_export_filters_and_rights(tt: TT) -> None:
    await _month_of_work(tt)
    params = {"from_date": "2026-03-23", "to_date": "2026-03-31", "department": "Security"}
    lines = (await tt.client.get("/api/export/worktime.csv", params=params, headers=tt.admin)).content
    rows = list(csv.reader(io.StringIO(lines.decode("utf-8-sig")), delimiter=";"))
    assert [r[1] for r in rows[1:]] == ["Nina Night"]
    operator = await tt.headers("operator")
    assert (
        await tt.client.get("/api/export/worktime.xlsx", params=params, headers=operator)
    ).status_code == 200
    assert (await tt.client.get("/api/export/worktime.csv", params=params)).status_code == 401


async def test_csv_cells_cannot_become_formulas(tt: TT) -> None:
    await tt.employee(full_name='=HYPERLINK("http://evil")', department="+Ops")
    content = (await tt.client.get("/api/export/worktime.csv", headers=tt.admin)).content.decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(content), delimiter=";"))[1]
    assert row[1].startswith("'=") and row[2] == "'+Ops"
