"""Helpers of the acceptance suite, written from docs/timetracker.md only.

Times are computed here with zoneinfo so the expectations do not depend on the product's own
time module.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from openpyxl import load_workbook

from tests.apps.timetracker.conftest import TT

UTC = dt.UTC
WARSAW = ZoneInfo("Europe/Warsaw")
HOUR = 3600

SUMMARY_NUMBERS = [
    "worked_seconds",
    "expected_seconds",
    "overtime_seconds",
    "missing_out_count",
    "absent_days",
]


def wall(
    day: dt.date | str, hh: int = 0, mm: int = 0, ss: int = 0, *, fold: int = 0, zone: ZoneInfo = WARSAW
) -> dt.datetime:
    """The UTC instant of a wall-clock time in ``zone`` (Warsaw by default)."""
    if isinstance(day, str):
        day = dt.date.fromisoformat(day)
    naive = dt.datetime(day.year, day.month, day.day, hh, mm, ss, fold=fold)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def ms(value: dt.datetime) -> int:
    return round(value.timestamp() * 1000)


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def today_local() -> dt.date:
    return now().astimezone(WARSAW).date()


def instant(value: Any) -> dt.datetime:
    """A ts as the API gives it (ISO string with offset/Z, or epoch ms) as an aware UTC datetime."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value / 1000, UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def term(key: str) -> dict[str, str]:
    return {"X-Terminal-Key": key}


async def batch(tt: TT, key: str, scans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await tt.client.post("/api/terminal/scans", json={"scans": scans}, headers=term(key))
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(scans)))
    return results


async def schedule(tt: TT, cells: list[dict[str, Any]], headers: dict[str, str] | None = None) -> None:
    response = await tt.client.post("/api/schedules", json={"cells": cells}, headers=headers or tt.admin)
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == [], response.text
    assert response.json()["saved"] == len(cells), response.text


def cell(employee_id: int, day: str, start: str, end: str, code: str = "work") -> dict[str, Any]:
    return {"employee_id": employee_id, "day": day, "start": start, "end": end, "code": code}


async def interval_view(
    tt: TT, employee_id: int, first: str, last: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await tt.client.get(
        f"/api/stats/employee/{employee_id}",
        params={"from_date": first, "to_date": last},
        headers=headers or tt.admin,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def manual_ok(tt: TT, employee_id: int, timestamp: str, direction: str, **kw: Any) -> dict[str, Any]:
    response = await tt.manual(employee_id, timestamp, direction, **kw)
    assert response.status_code == 201, response.text
    return response.json()


def rows_of(body: Any) -> list[dict[str, Any]]:
    return body["items"] if isinstance(body, dict) else body


async def summary_rows(tt: TT, params: dict[str, Any], headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    response = await tt.client.get("/api/stats/summary", params=params, headers=headers)
    assert response.status_code == 200, response.text
    rows = rows_of(response.json())
    by_id = {row["employee_id"]: row for row in rows}
    assert len(by_id) == len(rows), "one row per employee"
    return by_id


def _table(header: list[Any], lines: list[list[Any]]) -> dict[int, dict[str, Any]]:
    header = [str(h) for h in header]
    for key in ["employee_id", "full_name", "department", *SUMMARY_NUMBERS]:
        assert key in header, (key, header)
    table: dict[int, dict[str, Any]] = {}
    for line in lines:
        row = dict(zip(header, line, strict=False))
        employee_id = int(row["employee_id"])
        assert employee_id not in table, "one row per employee"
        table[employee_id] = row
    return table


async def csv_rows(tt: TT, params: dict[str, Any], headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    response = await tt.client.get("/api/export/worktime.csv", params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM"
    text = response.content[3:].decode("utf-8")
    lines = [line for line in csv.reader(io.StringIO(text), delimiter=";") if line]
    assert len(lines[0]) >= 8, lines[0]  # really ';'-separated
    return _table(lines[0], lines[1:])


async def xlsx_rows(tt: TT, params: dict[str, Any], headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    response = await tt.client.get("/api/export/worktime.xlsx", params=params, headers=headers)
    assert response.status_code == 200, response.text
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    try:
        lines = [list(r) for r in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()
    lines = [line for line in lines if any(v not in (None, "") for v in line)]
    return _table(lines[0], lines[1:])


async def daily_sums(
    tt: TT, employee_id: int, first: str, last: str, headers: dict[str, str] | None = None
) -> dict[str, int]:
    report = await tt.daily(employee_id, first, last, headers=headers)
    items = report["items"]
    missing = {a["ts_utc"] for d in items for a in d["anomalies"] if a["code"] == "MISSING_OUT"}
    return {
        "worked_seconds": sum(d["worked_seconds"] for d in items),
        "expected_seconds": sum(d["expected_seconds"] for d in items),
        "overtime_seconds": sum(d["overtime_seconds"] for d in items),
        "missing_out_count": len(missing),
        "absent_days": sum(1 for d in items if d["absent"]),
    }


def dates(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def check(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    if code is not None:
        assert body.get("code") == code, body
        assert "detail" in body, body
    return body
