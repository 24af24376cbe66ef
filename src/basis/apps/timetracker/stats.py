"""Reports: load an employee's events and schedules, let the engine compute, shape the answer.

The daily report is the one source of figures; the summary and the exports are its sums (R10).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from basis.apps.timetracker import engine
from basis.apps.timetracker.models import Employee, Event, Schedule
from basis.apps.timetracker.policy import max_shift, policy, zone_name
from basis.apps.timetracker.schemas import (
    AnomalyOut,
    DailyStats,
    DayOut,
    IntervalOut,
    IntervalStats,
    MonthOut,
    SummaryRowOut,
    WeekOut,
)
from basis.core.db import plain_rows
from basis.core.errors import Unprocessable
from basis.core.time import get_zone, local_date, local_day_bounds, utcnow
from basis.settings import Settings

T = TypeVar("T")

EVENTS = Event.__table__
SCHEDULES = Schedule.__table__
EMPLOYEES = Employee.__table__
MAX_RANGE_DAYS = 400
# Local days are at most this far from UTC, so a site-wide window widened by it covers every zone.
_ZONE_SLACK = dt.timedelta(hours=15)

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Range:
    from_date: dt.date
    to_date: dt.date


def resolve_range(
    from_date: dt.date | None, to_date: dt.date | None, zone: str, now: dt.datetime | None = None
) -> Range:
    """Defaults to the current local month; refuses reversed or very long ranges."""
    today = local_date(now or utcnow(), zone)
    if from_date is None:
        from_date = (to_date or today).replace(day=1)
    if to_date is None:
        nxt = from_date.replace(day=28) + dt.timedelta(days=4)
        to_date = nxt - dt.timedelta(days=nxt.day)
    if to_date < from_date:
        raise Unprocessable("to_date is before from_date", code="invalid_range")
    if from_date.year < 1900 or to_date.year > 9000:
        raise Unprocessable("Dates must be between 1900 and 9000", code="invalid_range")
    if (to_date - from_date).days >= MAX_RANGE_DAYS:
        raise Unprocessable(f"A report covers at most {MAX_RANGE_DAYS} days", code="invalid_range")
    return Range(from_date, to_date)


def _schedule(row: Sequence[object]) -> engine.ScheduleIn:
    return engine.ScheduleIn(row[0], row[1], row[2], row[3])  # type: ignore[arg-type]


async def _employee_inputs(
    session: AsyncSession, employee_id: int, zone: str, rng: Range, settings: Settings
) -> tuple[list[engine.EventIn], list[engine.ScheduleIn], dt.datetime, dt.datetime]:
    start, _ = local_day_bounds(rng.from_date, zone)
    _, end = local_day_bounds(rng.to_date, zone)
    shift = max_shift(settings)
    rows = await session.execute(
        select(EVENTS.c.id, EVENTS.c.ts, EVENTS.c.direction, EVENTS.c.direction_source)
        .where(
            EVENTS.c.employee_id == employee_id,
            EVENTS.c.ts >= start - shift,
            EVENTS.c.ts < end + shift,
            EVENTS.c.deleted_at.is_(None),
        )
        .order_by(EVENTS.c.ts, EVENTS.c.id)
    )
    events = [engine.EventIn(r[0], r[1], r[2], r[3]) for r in rows]
    cells = await session.execute(
        select(SCHEDULES.c.day, SCHEDULES.c.start, SCHEDULES.c.end, SCHEDULES.c.code).where(
            SCHEDULES.c.employee_id == employee_id,
            SCHEDULES.c.day >= rng.from_date - dt.timedelta(days=1),
            SCHEDULES.c.day <= rng.to_date + dt.timedelta(days=1),
        )
    )
    return events, [_schedule(c) for c in cells], start, end


def _anomaly(anomaly: engine.Anomaly, tz: dt.tzinfo) -> AnomalyOut:
    return AnomalyOut(
        code=anomaly.code,
        ts_utc=anomaly.ts_utc,
        ts_local=anomaly.ts_utc.astimezone(tz),
        details=dict(anomaly.details),
    )


async def employee_intervals(
    session: AsyncSession, *, employee: Employee, rng: Range, settings: Settings
) -> IntervalStats:
    zone = zone_name(employee.timezone, settings)
    tz = get_zone(zone)
    events, schedules, start, end = await _employee_inputs(session, employee.id, zone, rng, settings)
    view = engine.interval_view(events, schedules, zone, policy(settings), utcnow(), start, end)
    return IntervalStats(
        employee_id=employee.id,
        from_date=rng.from_date,
        to_date=rng.to_date,
        timezone=zone,
        total_seconds=view.total_seconds,
        total_hms=engine.fmt_hms(view.total_seconds),
        intervals=[
            IntervalOut(
                in_utc=i.in_utc,
                out_utc=i.out_utc,
                in_local=i.in_utc.astimezone(tz),
                out_local=i.out_utc.astimezone(tz) if i.out_utc is not None else None,
                seconds=i.seconds,
                auto_closed=i.auto_closed,
                open=i.open,
            )
            for i in view.intervals
        ],
        anomalies=[_anomaly(a, tz) for a in view.anomalies],
        open_shift=view.open_shift,
    )


async def employee_report(
    session: AsyncSession, *, employee: Employee, rng: Range, settings: Settings
) -> engine.DailyReport:
    zone = zone_name(employee.timezone, settings)
    events, schedules, _, _ = await _employee_inputs(session, employee.id, zone, rng, settings)
    return engine.daily(events, schedules, zone, policy(settings), utcnow(), rng.from_date, rng.to_date)


def daily_stats(employee_id: int, zone: str, report: engine.DailyReport) -> DailyStats:
    tz = get_zone(zone)
    return DailyStats(
        employee_id=employee_id,
        from_date=report.from_date,
        to_date=report.to_date,
        timezone=zone,
        items=[
            DayOut(
                date_local=d.date_local,
                worked_seconds=d.worked_seconds,
                worked_minutes=d.worked_minutes,
                worked_hms=d.worked_hms,
                first_in_local=d.first_in_local,
                last_out_local=d.last_out_local,
                open_shift=d.open_shift,
                auto_closed=d.auto_closed,
                schedule_code=d.schedule_code,
                expected_seconds=d.expected_seconds,
                overtime_seconds=d.overtime_seconds,
                late_minutes=d.late_minutes,
                early_exit_minutes=d.early_exit_minutes,
                absent=d.absent,
                anomalies=[_anomaly(a, tz) for a in d.anomalies],
            )
            for d in report.days
        ],
        total_seconds=report.total_seconds,
        total_hms=report.total_hms,
        weeks=[
            WeekOut(
                week_start=w.week_start,
                week_end=w.week_end,
                worked_seconds=w.worked_seconds,
                worked_hms=w.worked_hms,
            )
            for w in report.weeks
        ],
        months=[
            MonthOut(
                month=m.month,
                start=m.start,
                end=m.end,
                worked_seconds=m.worked_seconds,
                worked_hms=m.worked_hms,
            )
            for m in report.months
        ],
    )


# --------------------------------------------------------------------------- payroll summary


@dataclass(frozen=True, slots=True)
class _Person:
    id: int
    full_name: str
    department: str | None
    is_active: bool
    zone: str


async def summary(
    session: AsyncSession,
    *,
    rng: Range,
    settings: Settings,
    department: str | None = None,
    employee_id: int | None = None,
    progress: Progress | None = None,
) -> list[SummaryRowOut]:
    """One payroll row per employee: active ones, and inactive ones with events in the range.

    Two queries whatever the head count: every event of the range ordered by (employee, ts),
    every schedule cell; then the engine per employee.
    """
    conditions = []
    if department is not None:
        conditions.append(EMPLOYEES.c.department == department)
    if employee_id is not None:
        conditions.append(EMPLOYEES.c.id == employee_id)
    people = [
        _Person(r[0], r[1], r[2], r[3], zone_name(r[4], settings))
        for r in await session.execute(
            select(
                EMPLOYEES.c.id,
                EMPLOYEES.c.full_name,
                EMPLOYEES.c.department,
                EMPLOYEES.c.is_active,
                EMPLOYEES.c.timezone,
            )
            .where(*conditions)
            .order_by(EMPLOYEES.c.full_name, EMPLOYEES.c.id)
        )
    ]
    if not people:
        return []
    site_start, _ = local_day_bounds(rng.from_date, settings.timezone)
    _, site_end = local_day_bounds(rng.to_date, settings.timezone)
    shift = max_shift(settings)
    lo, hi = site_start - shift - _ZONE_SLACK, site_end + shift + _ZONE_SLACK
    filtered = department is not None or employee_id is not None
    event_conditions = [EVENTS.c.ts >= lo, EVENTS.c.ts < hi, EVENTS.c.deleted_at.is_(None)]
    schedule_conditions = [
        SCHEDULES.c.day >= rng.from_date - dt.timedelta(days=1),
        SCHEDULES.c.day <= rng.to_date + dt.timedelta(days=1),
    ]
    if filtered:
        ids = [p.id for p in people]
        event_conditions.append(EVENTS.c.employee_id.in_(ids))
        schedule_conditions.append(SCHEDULES.c.employee_id.in_(ids))
    conn = await session.connection()
    # Unordered: the engine orders each employee's events itself, and sorting 88k rows in the
    # database would cost more than grouping them here.
    events_by = await _by_employee(
        conn,
        select(
            EVENTS.c.employee_id, EVENTS.c.id, EVENTS.c.ts, EVENTS.c.direction, EVENTS.c.direction_source
        ).where(*event_conditions),
        engine.EventIn,
    )
    schedules_by = await _by_employee(
        conn,
        select(
            SCHEDULES.c.employee_id, SCHEDULES.c.day, SCHEDULES.c.start, SCHEDULES.c.end, SCHEDULES.c.code
        ).where(*schedule_conditions),
        engine.ScheduleIn,
    )

    # Half a second of engine for a month of a thousand people: in a thread, so that the
    # process keeps answering (terminals above all) meanwhile.
    return await asyncio.to_thread(
        _summary_rows, people, events_by, schedules_by, policy(settings), rng, progress
    )


def _summary_rows(
    people: Sequence[_Person],
    events_by: dict[int, list[engine.EventIn]],
    schedules_by: dict[int, list[engine.ScheduleIn]],
    pol: engine.Policy,
    rng: Range,
    progress: Progress | None,
) -> list[SummaryRowOut]:
    now = utcnow()
    rows: list[SummaryRowOut] = []
    for done, person in enumerate(people, 1):
        events = events_by.get(person.id, [])
        if person.is_active or _has_events_in_range(events, person.zone, rng):
            row = engine.summary_row(
                events, schedules_by.get(person.id, []), person.zone, pol, now, rng.from_date, rng.to_date
            )
            rows.append(
                SummaryRowOut(
                    employee_id=person.id,
                    full_name=person.full_name,
                    department=person.department,
                    worked_seconds=row.worked_seconds,
                    expected_seconds=row.expected_seconds,
                    overtime_seconds=row.overtime_seconds,
                    missing_out_count=row.missing_out_count,
                    absent_days=row.absent_days,
                )
            )
        if progress is not None:
            progress(done)
    return rows


async def _by_employee(
    conn: AsyncConnection, statement: Select[Any], make: Callable[..., T]
) -> dict[int, list[T]]:
    """Rows of (employee_id, *fields) as ``make(*fields)``, grouped by employee."""
    grouped: dict[int, list[T]] = {}
    for r in await plain_rows(conn, statement):
        grouped.setdefault(r[0], []).append(make(*r[1:]))
    return grouped


def _has_events_in_range(events: Iterable[engine.EventIn], zone: str, rng: Range) -> bool:
    start, _ = local_day_bounds(rng.from_date, zone)
    _, end = local_day_bounds(rng.to_date, zone)
    return any(start <= e.ts < end for e in events)


# ------------------------------------------------------------------------------ who is in


@dataclass(frozen=True, slots=True)
class Present:
    employee_id: int
    full_name: str
    department: str | None
    since: dt.datetime
    since_local: dt.datetime
    terminal_id: int | None


async def who_is_in(session: AsyncSession, *, settings: Settings) -> list[Present]:
    """Employees whose latest event is an IN younger than the maximum shift."""
    now = utcnow()
    rows = await session.execute(
        select(
            EVENTS.c.employee_id,
            EVENTS.c.ts,
            EVENTS.c.direction,
            EVENTS.c.terminal_id,
            EMPLOYEES.c.full_name,
            EMPLOYEES.c.department,
            EMPLOYEES.c.timezone,
        )
        .join(EMPLOYEES, EMPLOYEES.c.id == EVENTS.c.employee_id)
        .where(
            EVENTS.c.ts >= now - max_shift(settings),
            EVENTS.c.ts <= now,
            EVENTS.c.deleted_at.is_(None),
            EMPLOYEES.c.is_active.is_(True),
        )
        .order_by(EVENTS.c.employee_id, EVENTS.c.ts, EVENTS.c.id)
    )
    present: list[Present] = []
    for _, group in itertools.groupby(rows, key=lambda r: r[0]):
        last = list(group)[-1]
        if last[2] == "IN":
            zone = get_zone(zone_name(last[6], settings))
            present.append(Present(last[0], last[4], last[5], last[1], last[1].astimezone(zone), last[3]))
    present.sort(key=lambda p: (p.department or "", p.full_name))
    return present
