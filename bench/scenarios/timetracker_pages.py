"""TimeTracker's staff pages: the schedule month grid of 200 employees (issue 17: median under
150 ms), rendered for a signed-in panel session as a browser asks for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from bench.scenarios import BenchContext, Timed

APPS: list[str] = ["timetracker"]
EMPLOYEES = 200
MONTH = dt.date(2026, 3, 1)


async def _month_of_200(ctx: BenchContext) -> dict[str, Any]:
    from basis.apps.timetracker.models import Employee, Schedule

    async with ctx.session() as session:
        people = [
            Employee(
                full_name=f"Працівник {n:03d}", nfc_uid=f"BE{n:06X}", position="Оператор", is_active=True
            )
            for n in range(EMPLOYEES)
        ]
        session.add_all(people)
        await session.flush()
        for person in people:
            for day in range(31):
                if day % 7 in (5, 6):
                    session.add(
                        Schedule(employee_id=person.id, day=MONTH + dt.timedelta(days=day), code="off")
                    )
                else:
                    session.add(
                        Schedule(
                            employee_id=person.id,
                            day=MONTH + dt.timedelta(days=day),
                            code="work",
                            start=dt.time(9),
                            end=dt.time(18),
                        )
                    )
        await session.commit()
    panel = httpx.AsyncClient(base_url=ctx.base_url, timeout=60)
    signed = await panel.post(
        "/admin/login",
        data={"username": ctx.admin_email, "password": ctx.admin_password},
        headers={"Origin": ctx.base_url},
    )
    if signed.status_code != 302:
        raise RuntimeError(f"panel login: {signed.status_code} {signed.text[:200]}")
    return {"panel": panel}


async def _grid(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await data["panel"].get(
        "/admin/timetracker/schedule",
        params={"month": MONTH.strftime("%Y-%m")},
        headers={"Accept-Language": "uk"},
    )
    response.raise_for_status()
    if response.text.count('class="grid-cell"') != EMPLOYEES * 31:
        raise RuntimeError("the grid is not 200 x 31 cells")


SCENARIOS: list[Timed] = [
    Timed(
        "schedule month grid, 200 employees",
        call=_grid,
        setup=_month_of_200,
        repeat=15,
        warmup=2,
        note="the panel page: 6,200 cells with row totals, in Ukrainian (target: median under 150 ms)",
    ),
]
