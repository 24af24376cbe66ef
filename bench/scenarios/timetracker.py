"""TimeTracker: scan ingestion at 64 terminals (the hot path), a card tapped over and over
(cooldown under contention), the payroll month for 1,000 employees x 22 days x 4 scans, its
XLSX export, and one employee's month of daily stats."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from bench.scenarios import BenchContext, Scenario, Timed

APPS: list[str] = ["timetracker"]

TERMINALS = 64
CARDS = 2_000
PAYROLL_EMPLOYEES = 1_000
PAYROLL_DEPARTMENT = "Bench payroll"
WORKDAYS = 22


async def _scan_data(ctx: BenchContext) -> dict[str, Any]:
    """64 terminals and 2,000 cards; a fresh time base per run so every scan is accepted."""
    headers = await ctx.admin_headers()
    if "tt_scan" not in ctx.state:
        keys = []
        tag = uuid.uuid4().hex[:6]
        for i in range(TERMINALS):
            response = await ctx.client.post(
                "/api/terminals", json={"name": f"Bench door {tag}-{i}"}, headers=headers
            )
            response.raise_for_status()
            keys.append(response.json()["api_key"])
        prefix = f"B{random.randrange(16**3):03X}"
        ids = await _insert_employees(
            ctx, [f"{prefix}{i:05X}" for i in range(CARDS)], department="Bench scans"
        )
        # A site in use: last week's scans are in the table, and the planner has statistics
        # of them (a table filled from nothing a second ago is one no real server runs on).
        first_day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=13)).date()
        await _insert_history(ctx, ids, [first_day + dt.timedelta(days=i) for i in range(5)])
        ctx.state["tt_scan"] = {"keys": keys, "prefix": prefix, "runs": 0}
    data = ctx.state["tt_scan"]
    data["runs"] += 1
    # Scans of one card are 6 s apart (over the 5 s cooldown) and within the 7-day window.
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=6) + dt.timedelta(hours=2 * data["runs"])
    return {
        "lua_vars": {
            "KEYS": data["keys"],
            "PREFIX": data["prefix"],
            "CARDS": CARDS,
            "BASE": int(base.timestamp() * 1000),
        },
    }


async def _insert_employees(ctx: BenchContext, uids: list[str], *, department: str) -> list[int]:
    from sqlalchemy import insert, select

    from basis.apps.timetracker.models import Employee
    from basis.core.time import utcnow

    now = utcnow()
    async with ctx.session() as session:
        await session.execute(
            insert(Employee),
            [
                {
                    "full_name": f"Bench {uid}",
                    "nfc_uid": uid,
                    "department": department,
                    "is_active": True,
                    "key_status": "none",
                    "created_at": now,
                    "updated_at": now,
                }
                for uid in uids
            ],
        )
        await session.commit()
        return list(await session.scalars(select(Employee.id).where(Employee.department == department)))


def _day_of_scans(employee_id: int, day: dt.date, rng: random.Random) -> list[dict[str, Any]]:
    """In about 08:00, out for lunch 12:00-12:30, out about 16:00 (Warsaw)."""
    from basis.core.time import wall_clock_to_utc

    scans = []
    for hour, minute, direction in (
        (8, rng.randint(-5, 10), "IN"),
        (12, 0, "OUT"),
        (12, 30, "IN"),
        (16, rng.randint(0, 20), "OUT"),
    ):
        ts = wall_clock_to_utc(day, dt.time(hour), "Europe/Warsaw") + dt.timedelta(minutes=minute)
        scans.append(
            {
                "employee_id": employee_id,
                "terminal_id": None,
                "ts": ts,
                "received_at": ts,
                "direction": direction,
                "direction_source": "derived",
                "is_manual": False,
            }
        )
    return scans


async def _insert_history(ctx: BenchContext, ids: list[int], days: list[dt.date]) -> None:
    from sqlalchemy import insert

    from basis.apps.timetracker.models import Event

    rng = random.Random(7)
    async with ctx.session() as session:
        events: list[dict[str, Any]] = []
        for employee_id in ids:
            for day in days:
                events += _day_of_scans(employee_id, day, rng)
            if len(events) >= 20_000:
                await session.execute(insert(Event.__table__), events)
                events = []
        if events:
            await session.execute(insert(Event.__table__), events)
        await session.commit()
    await ctx.analyze("employees", "events")


_SCAN_LUA = """
function request()
  local n = bench_next()
  local key = KEYS[(n % #KEYS) + 1]
  local card = n % CARDS
  local ts = BASE + math.floor(n / CARDS) * 6000 + (n % 997)
  local body = string.format('{"uid": "%s%05X", "ts": %.0f}', PREFIX, card, ts)
  local headers = {["Content-Type"] = "application/json", ["X-Terminal-Key"] = key}
  return wrk.format("POST", bench.path, headers, body)
end
"""

_TAP_LUA = """
function request()
  local n = bench_next()
  local key = KEYS[(n % #KEYS) + 1]
  local body = string.format('{"uid": "%s00000", "ts": %.0f}', PREFIX, BASE)
  local headers = {["Content-Type"] = "application/json", ["X-Terminal-Key"] = key}
  return wrk.format("POST", bench.path, headers, body)
end
"""


async def _heartbeat(ctx: BenchContext) -> dict[str, Any]:
    data = await _scan_data(ctx)
    return {"headers": {"X-Terminal-Key": data["lua_vars"]["KEYS"][0]}}


def _payroll_month() -> tuple[dt.date, dt.date]:
    first_this = dt.datetime.now(dt.UTC).date().replace(day=1)
    first = (first_this - dt.timedelta(days=40)).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, last


async def _payroll_data(ctx: BenchContext) -> dict[str, Any]:
    """1,000 employees x 22 workdays x 4 scans (88k events) and their schedule cells, in bulk."""
    headers = await ctx.admin_headers()
    first, last = _payroll_month()
    if "tt_payroll" not in ctx.state:
        from sqlalchemy import insert

        from basis.apps.timetracker.models import Schedule
        from basis.core.time import utcnow

        prefix = f"C{random.randrange(16**3):03X}"
        ids = await _insert_employees(
            ctx, [f"{prefix}{i:05X}" for i in range(PAYROLL_EMPLOYEES)], department=PAYROLL_DEPARTMENT
        )
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        workdays = [d for d in days if d.weekday() < 5][:WORKDAYS]
        await _insert_history(ctx, ids, workdays)
        now = utcnow()
        async with ctx.session() as session:
            cells = [
                {
                    "employee_id": employee_id,
                    "day": day,
                    "start": dt.time(8),
                    "end": dt.time(16),
                    "code": "work",
                    "updated_at": now,
                }
                for employee_id in ids
                for day in workdays
            ]
            for i in range(0, len(cells), 20_000):
                await session.execute(insert(Schedule.__table__), cells[i : i + 20_000])
            await session.commit()
        await ctx.analyze("schedules")
        ctx.state["tt_payroll"] = ids
    params = {"from_date": first.isoformat(), "to_date": last.isoformat()}
    return {
        "headers": headers,
        "params": params,
        "employee_id": ctx.state["tt_payroll"][PAYROLL_EMPLOYEES // 2],
    }


async def _summary(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await ctx.client.get(
        "/api/stats/summary",
        params={**data["params"], "department": PAYROLL_DEPARTMENT},
        headers=data["headers"],
        timeout=120,
    )
    response.raise_for_status()
    assert len(response.json()["items"]) == PAYROLL_EMPLOYEES


async def _export(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await ctx.client.get(
        "/api/export/worktime.xlsx",
        params={**data["params"], "department": PAYROLL_DEPARTMENT},
        headers=data["headers"],
        timeout=120,
    )
    response.raise_for_status()


async def _daily(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await ctx.client.get(
        f"/api/stats/employee/{data['employee_id']}/daily", params=data["params"], headers=data["headers"]
    )
    response.raise_for_status()


SCENARIOS: list[Scenario | Timed] = [
    Scenario(
        "POST /api/terminal/scan, 64 terminals, 2,000 cards",
        path="/api/terminal/scan",
        method="POST",
        setup=_scan_data,
        lua=_SCAN_LUA,
        note="the hot path: key lookup, card, lock, cooldown window, direction, insert; every scan accepted",
    ),
    Scenario(
        "POST /api/terminal/scan, one card tapped at every door",
        path="/api/terminal/scan",
        method="POST",
        setup=_scan_data,
        lua=_TAP_LUA,
        note="R4/R8 under contention: every request locks the same employee and is answered duplicate",
    ),
    Scenario(
        "POST /api/terminal/heartbeat",
        path="/api/terminal/heartbeat",
        method="POST",
        setup=_heartbeat,
        note="terminal authentication alone (key hash lookup)",
    ),
    Timed(
        "GET /api/stats/summary, 1,000 employees x 22 days x 4 scans",
        call=_summary,
        setup=_payroll_data,
        repeat=5,
        note="the payroll month: two queries, the engine per employee; aim < 1 s on PostgreSQL",
    ),
    Timed("GET /api/export/worktime.xlsx, same month", call=_export, setup=_payroll_data, repeat=3),
    Timed(
        "GET /api/stats/employee/{id}/daily, one month",
        call=_daily,
        setup=_payroll_data,
        repeat=30,
        note="aim < 20 ms median",
    ),
]
