"""Staff pages that read: an employee's statistics for a period (with a server-side SVG chart)
and the day's dashboard, refreshed live from the scan feed through the panel's own session
(server-sent events under /admin: no token in any URL)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqladmin import BaseView, expose
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from basis.apps.timetracker import engine, stats, terminal
from basis.apps.timetracker.models import Employee, Event
from basis.apps.timetracker.staff_pages import STAFF, Refused, _db, actor_with, page_lang, refused, render
from basis.core.admin import RoleGate, auth_backend
from basis.core.i18n import Lang
from basis.core.time import get_zone, local_date, local_to_utc, utcnow

MAX_DAYS = 92
FEED_PING_SECONDS = 15.0


def _date(value: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


def hours(seconds: int) -> str:
    minutes = seconds // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def bar_chart(days: tuple[engine.DayRow, ...], lang: Lang) -> Markup:
    """Worked (bars) against planned (ticks) hours per day, as inline SVG."""
    width, height, pad = 640, 160, 20
    step = (width - 2 * pad) / max(len(days), 1)
    top = max([d.worked_seconds for d in days] + [d.expected_seconds for d in days] + [3600])
    scale = (height - 2 * pad) / top
    label = escape(lang.gettext("Hours per day"))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="stats-chart" width="100%" height="{height}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" aria-label="{label}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>',
    ]
    for n, day in enumerate(days):
        x = pad + n * step
        h = day.worked_seconds * scale
        colour = "#d63939" if day.open_shift or day.anomalies else "#206bc4"
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{height - pad - h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{escape(lang.date(day.date_local))}: '
            f"{hours(day.worked_seconds)}</title></rect>"
        )
        if day.expected_seconds:
            y = height - pad - day.expected_seconds * scale
            parts.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + step:.1f}" y2="{y:.1f}" stroke="#2fb344" '
                'stroke-width="2"/>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from numbers and escaped texts only


class EmployeeStatsView(RoleGate, BaseView):
    name = "Employee statistics"
    icon = "fa-solid fa-chart-column"
    category = "TimeTracker"
    roles = STAFF

    @expose("/timetracker/stats", methods=["GET"], identity="timetracker-stats")
    async def employee_stats(self, request: Request) -> Response:
        try:
            _, settings = await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        lang = page_lang(request)
        today = local_date(utcnow(), settings.timezone)
        first = _date(request.query_params.get("from"), today.replace(day=1))
        last = _date(request.query_params.get("to"), today)
        error = None
        if last < first or (last - first).days >= MAX_DAYS:
            error = lang.gettext("A period is from 1 to %(days)s days.", days=MAX_DAYS)
            first, last = today.replace(day=1), today
        async with _db(request)() as session:
            people = (
                await session.execute(select(Employee.id, Employee.full_name).order_by(Employee.full_name))
            ).all()
            chosen = request.query_params.get("employee_id", "")
            employee = await session.get(Employee, int(chosen)) if chosen.isdigit() else None
            report = None
            if employee is not None:
                rng = stats.Range(first, last)
                report = await stats.employee_report(session, employee=employee, rng=rng, settings=settings)
        totals = None
        if report is not None:
            totals = {
                "worked": sum(d.worked_seconds for d in report.days),
                "expected": sum(d.expected_seconds for d in report.days),
                "late": sum(d.late_minutes for d in report.days),
                "early": sum(d.early_exit_minutes for d in report.days),
                "overtime": sum(d.overtime_seconds for d in report.days),
                "open": sum(1 for d in report.days if d.open_shift),
            }
        return await render(
            self,
            request,
            "employee_stats.html",
            people=people,
            employee=employee,
            report=report,
            totals=totals,
            first=first,
            last=last,
            error=error,
            hours=hours,
            chart=bar_chart(report.days, lang) if report is not None else None,
        )


@dataclass(frozen=True)
class ScanRow:
    ts: dt.datetime
    full_name: str
    direction: str | None
    terminal_id: int | None
    is_manual: bool


class DashboardView(RoleGate, BaseView):
    name = "Day dashboard"
    icon = "fa-solid fa-gauge"
    category = "TimeTracker"
    roles = STAFF

    @expose("/timetracker/day", methods=["GET"], identity="timetracker-day")
    async def day(self, request: Request) -> Response:
        try:
            _, settings = await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        zone = get_zone(settings.timezone)
        today = local_date(utcnow(), zone)
        day = _date(request.query_params.get("day"), today)
        start = local_to_utc(dt.datetime.combine(day, dt.time()), settings.timezone)
        end = local_to_utc(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), settings.timezone)
        async with _db(request)() as session:
            rows = await session.execute(
                select(
                    Event.ts,
                    Employee.full_name,
                    Event.direction,
                    Event.terminal_id,
                    Event.is_manual,
                    Event.employee_id,
                )
                .join(Employee, Employee.id == Event.employee_id)
                .where(Event.ts >= start, Event.ts < end, Event.deleted_at.is_(None))
                .order_by(Event.ts, Event.id)
            )
            scans = [
                ScanRow(ts, name, direction, tid, manual)
                for ts, name, direction, tid, manual, _ in rows.all()
            ]
            present = await stats.who_is_in(session, settings=settings)
            seen = {
                employee_id
                for *_, employee_id in (
                    await session.execute(
                        select(Event.employee_id)
                        .where(Event.ts >= start, Event.ts < end, Event.deleted_at.is_(None))
                        .distinct()
                    )
                ).all()
            }
            problems = []
            for employee_id in sorted(seen):
                employee = await session.get(Employee, employee_id)
                if employee is None:
                    continue
                report = await stats.employee_report(
                    session, employee=employee, rng=stats.Range(day, day), settings=settings
                )
                for row in report.days:
                    if row.open_shift or row.anomalies or row.late_minutes or row.early_exit_minutes:
                        problems.append((employee.full_name, row))
        return await render(
            self,
            request,
            "day_dashboard.html",
            day=day,
            scans=scans,
            present=present,
            problems=problems,
            zone=zone,
            feed_url=request.url_for("admin:view-timetracker-feed"),
            static_url=request.url_for("admin:view-timetracker-static", name="dashboard.js"),
        )


class ScanFeedView(RoleGate, BaseView):
    """The scan feed as server-sent events for the dashboard, in the panel's session."""

    name = "Scan feed"
    roles = STAFF

    def is_visible(self, request: Request) -> bool:
        return False

    @expose("/timetracker/feed", methods=["GET"], identity="timetracker-feed")
    async def feed(self, request: Request) -> Response:
        try:
            await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        hub = auth_backend(request).main_app.state.infra.hub

        async def events() -> AsyncIterator[str]:
            yield ": feed open\n\n"
            async with hub.subscribe(terminal.SCAN_TOPIC) as subscription:
                while not await request.is_disconnected():
                    try:
                        message = await subscription.get(timeout=FEED_PING_SECONDS)
                    except TimeoutError:
                        yield ": ping\n\n"
                        continue
                    except Exception:
                        return
                    yield f"event: scan\ndata: {json.dumps(message, default=str)}\n\n"

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


READ_VIEWS: list[type] = [DashboardView, EmployeeStatsView, ScanFeedView]
