"""Staff pages that correct: manual events of an employee's day (add an IN, an OUT or a pair
with a required reason, delete one, clear the day; each confirmed, each audited by the
service) and the payroll exports of a period."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqladmin import BaseView, expose
from sqlalchemy import select
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from basis.apps.timetracker import exports, service, stats
from basis.apps.timetracker.models import Employee, Event
from basis.apps.timetracker.schemas import ManualEventIn
from basis.apps.timetracker.staff_pages import STAFF, Refused, _db, actor_with, page_lang, refused, render
from basis.core.admin import RoleGate
from basis.core.errors import BasisError
from basis.core.time import get_zone, local_date, local_to_utc, utcnow

REASON_MAX = 500
_CLOCK = "%H:%M"


def _date(value: Any, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) and value else default
    except ValueError:
        return default


def _clock(value: Any) -> str | None:
    try:
        return dt.datetime.strptime(value, _CLOCK).strftime(_CLOCK) if isinstance(value, str) else None
    except ValueError:
        return None


def _message(error: BasisError) -> str:
    if isinstance(error.detail, list):
        return "; ".join(str(item.get("msg", item)) for item in error.detail if isinstance(item, dict))
    return str(error.detail)


class ManualEventsView(RoleGate, BaseView):
    name = "Manual events"
    icon = "fa-solid fa-pen-to-square"
    category = "TimeTracker"
    roles = STAFF

    @expose("/timetracker/manual", methods=["GET", "POST"], identity="timetracker-manual")
    async def manual(self, request: Request) -> Response:
        try:
            actor, settings = await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        if request.method == "POST":
            return await self._change(request, actor, settings)
        today = local_date(utcnow(), settings.timezone)
        day = _date(request.query_params.get("day"), today)
        chosen = request.query_params.get("employee_id", "")
        async with _db(request)() as session:
            people = (
                await session.execute(select(Employee.id, Employee.full_name).order_by(Employee.full_name))
            ).all()
            employee = await session.get(Employee, int(chosen)) if chosen.isdigit() else None
            events = await self._day_events(session, employee, day, settings) if employee else []
        zone = get_zone((employee.timezone if employee else None) or settings.timezone)
        return await render(
            self,
            request,
            "manual_events.html",
            people=people,
            employee=employee,
            day=day,
            events=events,
            zone=zone,
            message=request.query_params.get("done") and page_lang(request).gettext("Done."),
            error=request.query_params.get("error"),
            url=str(request.url_for("admin:view-timetracker-manual")),
            static_url=request.url_for("admin:view-timetracker-static", name="confirm.js"),
        )

    @staticmethod
    async def _day_events(session: Any, employee: Employee, day: dt.date, settings: Any) -> list[Event]:
        zone = employee.timezone or settings.timezone
        start = local_to_utc(dt.datetime.combine(day, dt.time()), zone)
        end = local_to_utc(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), zone)
        rows = await session.scalars(
            select(Event)
            .where(
                Event.employee_id == employee.id,
                Event.ts >= start,
                Event.ts < end,
                Event.deleted_at.is_(None),
            )
            .order_by(Event.ts, Event.id)
        )
        return list(rows)

    async def _change(self, request: Request, actor: Any, settings: Any) -> Response:
        form = await request.form()
        lang = page_lang(request)
        employee_id = str(form.get("employee_id", ""))
        day = _date(form.get("day"), dt.date.min)
        back = URL(str(request.url_for("admin:view-timetracker-manual"))).include_query_params(
            employee_id=employee_id, day=day.isoformat() if day != dt.date.min else ""
        )
        reason = str(form.get("reason") or "").strip()
        verb = form.get("verb")
        if form.get("confirmed") != "1":
            problem = lang.gettext("Not confirmed.")
        elif not reason or len(reason) > REASON_MAX:
            problem = lang.gettext("A reason is required (at most 500 characters).")
        elif not employee_id.isdigit() or day == dt.date.min:
            problem = lang.gettext("Choose an employee and a day.")
        else:
            problem = None
        if problem is None:
            try:
                await self._apply(request, verb, int(employee_id), day, form, reason, actor, settings)
            except BasisError as error:
                problem = _message(error)
            except ValueError as error:
                problem = lang.gettext(str(error))
        if problem:
            return RedirectResponse(back.include_query_params(error=problem), status_code=303)
        return RedirectResponse(back.include_query_params(done="1"), status_code=303)

    async def _apply(
        self,
        request: Request,
        verb: Any,
        employee_id: int,
        day: dt.date,
        form: Any,
        reason: str,
        actor: Any,
        settings: Any,
    ) -> None:
        maker = _db(request)
        if verb in ("in", "out", "pair"):
            first, second = _clock(form.get("time")), _clock(form.get("time_out"))
            if first is None or (verb == "pair" and (second is None or second <= first)):
                raise ValueError("Give the time as HH:MM (a pair: IN before OUT).")
            plan = [("IN" if verb != "out" else "OUT", first)]
            if verb == "pair":
                plan.append(("OUT", second))
            created: list[Event] = []
            async with maker() as session:
                try:
                    for direction, clock in plan:
                        data = ManualEventIn(
                            employee_id=employee_id,
                            timestamp=f"{day.isoformat()}T{clock}:00",
                            direction=direction,
                            comment=reason,
                        )
                        created.append(
                            await service.create_manual_event(
                                session=session, data=data, actor=actor, settings=settings
                            )
                        )
                except BasisError:
                    # A pair is both events or neither: the IN already stored is taken back (audited).
                    for event in created:
                        await service.delete_event(
                            session=session,
                            event=event,
                            reason=f"pair refused: {reason}",
                            actor=actor,
                            settings=settings,
                        )
                    raise
            return
        async with maker() as session:
            if verb == "delete":
                raw = str(form.get("event_id", ""))
                event = await session.get(Event, int(raw)) if raw.isdigit() else None
                if event is None or event.employee_id != employee_id:
                    raise ValueError("No such event.")
                await service.delete_event(
                    session=session, event=event, reason=reason, actor=actor, settings=settings
                )
            elif verb == "clear":
                employee = await session.get(Employee, employee_id)
                if employee is None:
                    raise ValueError("No such employee.")
                for event in await self._day_events(session, employee, day, settings):
                    await service.delete_event(
                        session=session, event=event, reason=reason, actor=actor, settings=settings
                    )
            else:
                raise ValueError("Unknown action.")


class ExportsView(RoleGate, BaseView):
    name = "Exports"
    icon = "fa-solid fa-file-export"
    category = "TimeTracker"
    roles = STAFF

    @expose("/timetracker/exports", methods=["GET"], identity="timetracker-exports")
    async def exports_page(self, request: Request) -> Response:
        try:
            _, settings = await actor_with(request, STAFF)
        except Refused:
            return refused(request)
        today = local_date(utcnow(), settings.timezone)
        kind = request.query_params.get("format")
        first = _date(request.query_params.get("from"), today.replace(day=1))
        last = _date(request.query_params.get("to"), today)
        if kind not in ("csv", "xlsx"):
            return await render(self, request, "exports.html", first=first, last=last, error=None)
        if last < first or (last - first).days > 366:
            error = page_lang(request).gettext("A period is from 1 to %(days)s days.", days=367)
            return await render(
                self, request, "exports.html", status=422, first=first, last=last, error=error
            )
        rng = stats.Range(first, last)
        async with _db(request)() as session:
            rows = await stats.summary(session, rng=rng, settings=settings, department=None, employee_id=None)
        if kind == "csv":
            body, media = exports.to_csv(rows), exports.CSV_MEDIA_TYPE
        else:
            body, media = await asyncio.to_thread(exports.to_xlsx, rows, rng), exports.XLSX_MEDIA_TYPE
        disposition = f'attachment; filename="{exports.filename(rng, kind)}"'
        return Response(
            body, media_type=media, headers={"Content-Disposition": disposition, "Cache-Control": "no-store"}
        )


EDIT_VIEWS: list[type] = [ManualEventsView, ExportsView]
