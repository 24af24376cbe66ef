# ruff: noqa: RUF001 - the original grid's Ukrainian abbreviations
"""The schedule month grid and its PDF: employees x days with each row's planned hours.

Read with Core selects of the needed columns (a month of 200 employees is 6,000 cells); saved
through ``service.upsert_schedule_cells``, the same batch as ``POST /api/schedules``.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker.models import Employee, Schedule

SHORT_CODES = {"off": "В", "sick": "Л", "vacation": "Від", "holiday": "С"}
"""How the original's grid writes a code in a cell (Ukrainian abbreviations)."""


@dataclass
class Cell:
    day: dt.date
    code: str | None = None
    start: dt.time | None = None
    end: dt.time | None = None

    @property
    def text(self) -> str:
        """What the cell shows and what the grid sends back: ``09:00-18:00``, a code, or empty."""
        if self.code is None:
            return ""
        if self.code == "work" and self.start is not None and self.end is not None:
            return f"{self.start:%H:%M}-{self.end:%H:%M}"
        return self.code

    @property
    def minutes(self) -> int:
        if self.code != "work" or self.start is None or self.end is None:
            return 0
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        return end - start if end > start else end + 24 * 60 - start  # ends the next day


@dataclass
class Row:
    employee_id: int
    full_name: str
    position: str | None
    cells: list[Cell] = field(default_factory=list)

    @property
    def minutes(self) -> int:
        return sum(cell.minutes for cell in self.cells)

    @property
    def work_days(self) -> int:
        return sum(1 for cell in self.cells if cell.minutes)


@dataclass
class Grid:
    first: dt.date
    last: dt.date
    days: list[dt.date]
    rows: list[Row]

    @property
    def minutes(self) -> int:
        return sum(row.minutes for row in self.rows)


def month_bounds(month: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """``2026-03`` as its first and last day; anything else is this month."""
    year, number = today.year, today.month
    if month:
        try:
            parsed = dt.datetime.strptime(month, "%Y-%m")
            year, number = parsed.year, parsed.month
        except ValueError:
            pass
    last = calendar.monthrange(year, number)[1]
    return dt.date(year, number, 1), dt.date(year, number, last)


def hours(minutes: int) -> str:
    """``h:mm``, as payroll clerks read a duration."""
    return f"{minutes // 60}:{minutes % 60:02d}"


async def load(session: AsyncSession, first: dt.date, last: dt.date) -> Grid:
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    people = await session.execute(
        select(Employee.id, Employee.full_name, Employee.position)
        .where(Employee.is_active.is_(True))
        .order_by(Employee.full_name, Employee.id)
    )
    rows = {pid: Row(pid, name, position, [Cell(day) for day in days]) for pid, name, position in people}
    planned = await session.execute(
        select(Schedule.employee_id, Schedule.day, Schedule.code, Schedule.start, Schedule.end).where(
            Schedule.day >= first, Schedule.day <= last
        )
    )
    for employee_id, day, code, start, end in planned:
        row = rows.get(employee_id)
        if row is not None:
            cell = row.cells[(day - first).days]
            cell.code, cell.start, cell.end = code, start, end
    return Grid(first, last, days, list(rows.values()))
