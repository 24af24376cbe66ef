"""Reports: an employee's intervals and days, the payroll summary and its CSV/XLSX exports."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from basis.apps.timetracker import exports, stats
from basis.apps.timetracker.dependencies import ReadableEmployee
from basis.apps.timetracker.params import DateParam, IdParam, date_range
from basis.apps.timetracker.policy import zone_of
from basis.apps.timetracker.schemas import DailyStats, IntervalStats, SummaryOut
from basis.core.deps import SessionDep, SettingsDep
from basis.core.types import NO_CONTROL
from basis.identity.deps import OperatorUser

router = APIRouter(prefix="/api", tags=["timetracker"])


async def requested_dates(
    from_date: DateParam = None,
    to_date: DateParam = None,
    date_from: DateParam = None,
    date_to: DateParam = None,
) -> tuple[dt.date | None, dt.date | None]:
    """The asked-for range; ``from_date``/``to_date`` and ``date_from``/``date_to`` are aliases."""
    return from_date or date_from, to_date or date_to


RequestedDates = Annotated[tuple[dt.date | None, dt.date | None], Depends(requested_dates)]


@router.get("/stats/employee/{employee_id}", response_model=IntervalStats)
async def employee_stats(
    employee: ReadableEmployee, session: SessionDep, settings: SettingsDep, dates: RequestedDates
) -> IntervalStats:
    rng = stats.resolve_range(*dates, zone_of(employee, settings))
    return await stats.employee_intervals(session, employee=employee, rng=rng, settings=settings)


@router.get("/stats/employee/{employee_id}/daily", response_model=DailyStats)
async def employee_daily_stats(
    employee: ReadableEmployee, session: SessionDep, settings: SettingsDep, dates: RequestedDates
) -> DailyStats:
    zone = zone_of(employee, settings)
    rng = stats.resolve_range(*dates, zone)
    report = await stats.employee_report(session, employee=employee, rng=rng, settings=settings)
    return stats.daily_stats(employee.id, zone, report)


async def summary_rows(
    session: SessionDep,
    settings: SettingsDep,
    from_date: DateParam = None,
    to_date: DateParam = None,
    date_from: DateParam = None,
    date_to: DateParam = None,
    department: str | None = Query(None, max_length=120, pattern=NO_CONTROL),
    employee_id: IdParam = None,
) -> tuple[stats.Range, list[Any]]:
    """The payroll summary's query parameters, shared by the JSON view and both exports."""
    rng = date_range(from_date, date_from, to_date, date_to, settings.timezone)
    rows = await stats.summary(
        session, rng=rng, settings=settings, department=department, employee_id=employee_id
    )
    return rng, rows


SummaryRows = Annotated[tuple[stats.Range, list[Any]], Depends(summary_rows)]


def _attachment(content: bytes, media_type: str, rng: stats.Range, extension: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{exports.filename(rng, extension)}"'},
    )


@router.get("/stats/summary", response_model=SummaryOut)
async def stats_summary(_: OperatorUser, summary: SummaryRows) -> SummaryOut:
    rng, rows = summary
    return SummaryOut(from_date=rng.from_date, to_date=rng.to_date, items=rows)


@router.get(
    "/export/worktime.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The summary as CSV (';', UTF-8 BOM)"}},
)
async def export_csv(_: OperatorUser, summary: SummaryRows) -> Response:
    rng, rows = summary
    return _attachment(exports.to_csv(rows), exports.CSV_MEDIA_TYPE, rng, "csv")


@router.get(
    "/export/worktime.xlsx",
    response_class=Response,
    responses={200: {"content": {exports.XLSX_MEDIA_TYPE: {}}, "description": "The summary as XLSX"}},
)
async def export_xlsx(_: OperatorUser, summary: SummaryRows) -> Response:
    rng, rows = summary
    content = await asyncio.to_thread(exports.to_xlsx, rows, rng)
    return _attachment(content, exports.XLSX_MEDIA_TYPE, rng, "xlsx")
