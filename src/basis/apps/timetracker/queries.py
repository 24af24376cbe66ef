"""The staff API's lists: their filters and order, and one page with the total it was cut from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker.models import Employee, Event, Schedule, Terminal
from basis.apps.timetracker.parsing import uid_fragment

T = TypeVar("T")


async def page_of(
    session: AsyncSession,
    model: type[T],
    conditions: Sequence[Any],
    order_by: Sequence[Any],
    *,
    limit: int,
    offset: int,
) -> tuple[list[T], int]:
    """One page of ``model`` rows matching ``conditions``, and how many match in all."""
    total = await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
    rows = await session.scalars(
        select(model).where(*conditions).order_by(*order_by).limit(limit).offset(offset)
    )
    return list(rows), total


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_employees(
    *,
    session: AsyncSession,
    q: str | None,
    department: str | None,
    is_active: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[Employee], int]:
    conditions = []
    if q and q.strip():
        term = q.strip()
        pattern = _like(term)
        options = [
            func.lower(Employee.full_name).like(pattern, escape="\\"),
            func.lower(Employee.position).like(pattern, escape="\\"),
        ]
        uid_term = uid_fragment(term)
        if uid_term:
            options.append(Employee.nfc_uid.like(f"%{uid_term}%"))
        conditions.append(or_(*options))
    if department:
        conditions.append(Employee.department == department)
    if is_active is not None:
        conditions.append(Employee.is_active == is_active)
    return await page_of(
        session, Employee, conditions, (Employee.full_name, Employee.id), limit=limit, offset=offset
    )


async def employee_for_user(session: AsyncSession, user_id: int) -> int | None:
    return await session.scalar(select(Employee.id).where(Employee.user_id == user_id))


def events_query(
    *,
    employee_id: int | None,
    terminal_id: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    direction: str | None,
    is_manual: bool | None,
    include_deleted: bool,
) -> Select[Any]:
    conditions = []
    if employee_id is not None:
        conditions.append(Event.employee_id == employee_id)
    if terminal_id is not None:
        conditions.append(Event.terminal_id == terminal_id)
    if since is not None:
        conditions.append(Event.ts >= since)
    if until is not None:
        conditions.append(Event.ts < until)
    if direction is not None:
        conditions.append(Event.direction == direction)
    if is_manual is not None:
        conditions.append(Event.is_manual == is_manual)
    if not include_deleted:
        conditions.append(Event.deleted_at.is_(None))
    return select(Event).where(and_(*conditions)) if conditions else select(Event)


async def list_events(
    *, session: AsyncSession, query: Select[Any], limit: int, offset: int
) -> tuple[list[Event], int]:
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Event.ts.desc(), Event.id.desc()).limit(limit).offset(offset))
    return list(rows), total


async def list_schedules(
    *, session: AsyncSession, from_date: dt.date, to_date: dt.date, employee_id: int | None
) -> list[Schedule]:
    conditions = [Schedule.day >= from_date, Schedule.day <= to_date]
    if employee_id is not None:
        conditions.append(Schedule.employee_id == employee_id)
    rows = await session.scalars(
        select(Schedule).where(*conditions).order_by(Schedule.employee_id, Schedule.day)
    )
    return list(rows)


async def list_terminals(*, session: AsyncSession, limit: int, offset: int) -> tuple[list[Terminal], int]:
    return await page_of(session, Terminal, [], (Terminal.name,), limit=limit, offset=offset)
