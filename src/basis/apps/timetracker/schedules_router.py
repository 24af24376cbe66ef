"""Schedules: the planned shifts and days off that reports compare the worked time with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from basis.apps.timetracker import queries, service
from basis.apps.timetracker.dependencies import ScheduleDep
from basis.apps.timetracker.models import Schedule
from basis.apps.timetracker.params import DateParam, IdParam, date_range
from basis.apps.timetracker.parsing import CODE_LABELS
from basis.apps.timetracker.schemas import (
    ScheduleBulkIn,
    ScheduleBulkOut,
    ScheduleList,
    SchedulePublic,
    ScheduleRefused,
)
from basis.core.deps import SessionDep, SettingsDep
from basis.identity.deps import OperatorUser

router = APIRouter(prefix="/api", tags=["timetracker"])


def schedule_public(row: Schedule) -> SchedulePublic:
    start = row.start.strftime("%H:%M") if row.start is not None else None
    end = row.end.strftime("%H:%M") if row.end is not None else None
    return SchedulePublic(
        id=row.id,
        employee_id=row.employee_id,
        day=row.day,
        start=start,
        end=end,
        start_hhmm=start,
        end_hhmm=end,
        code=row.code,
        label=row.label or CODE_LABELS.get(row.code),
        overnight=row.start is not None and row.end is not None and row.end <= row.start,
    )


@router.get("/schedules", response_model=ScheduleList)
@router.get("/schedules/", response_model=ScheduleList, include_in_schema=False)
@router.get("/schedule", response_model=ScheduleList, include_in_schema=False)
async def list_schedules(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    from_date: DateParam = None,
    to_date: DateParam = None,
    date_from: DateParam = None,
    date_to: DateParam = None,
    employee_id: IdParam = None,
) -> ScheduleList:
    rng = date_range(from_date, date_from, to_date, date_to, settings.timezone)
    rows = await queries.list_schedules(
        session=session, from_date=rng.from_date, to_date=rng.to_date, employee_id=employee_id
    )
    return ScheduleList(
        date_from=rng.from_date, date_to=rng.to_date, items=[schedule_public(r) for r in rows]
    )


_REFUSED: dict[int | str, dict[str, Any]] = {
    422: {"model": ScheduleRefused, "description": "invalid_schedule: the refused cells; nothing was saved"}
}


@router.post("/schedules", response_model=ScheduleBulkOut, responses=_REFUSED)
@router.post("/schedules/", response_model=ScheduleBulkOut, include_in_schema=False)
@router.post("/schedule", response_model=ScheduleBulkOut, include_in_schema=False)
async def save_schedules(data: ScheduleBulkIn, actor: OperatorUser, session: SessionDep) -> ScheduleBulkOut:
    """Saves every cell or none: one cell that is not a valid time, shift or code is a 422."""
    saved, deleted = await service.upsert_schedule_cells(session=session, cells=data.cells, actor=actor)
    # ``errors`` and ``failed`` stay in the answer for the original's clients: always empty now.
    return ScheduleBulkOut(saved=saved, deleted=deleted, errors=[], success=saved + deleted, failed=0)


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response)
async def delete_schedule(schedule: ScheduleDep, actor: OperatorUser, session: SessionDep) -> Response:
    await service.delete_schedule(session=session, schedule=schedule, actor=actor)
    return Response(status_code=204)
