"""TimeTracker in the admin panel: employees, terminals (never a key hash), events (corrected
with a reason), schedules, the audit log and who is in right now. Every change goes through the
service, so the panel audits exactly like the API."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from sqladmin import BaseView, action, expose
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from wtforms import Form, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired

from basis.apps.timetracker import parsing, service, stats
from basis.apps.timetracker.models import AuditEntry, Employee, Event, Schedule, Terminal
from basis.apps.timetracker.schemas import (
    EmployeeCreate,
    EmployeeUpdate,
    EventPatch,
    TerminalCreate,
    TerminalUpdate,
)
from basis.apps.timetracker.staff_edits import EDIT_VIEWS
from basis.apps.timetracker.staff_pages import PAGE_VIEWS
from basis.apps.timetracker.staff_views import READ_VIEWS
from basis.core.admin import (
    ReadOnlyView,
    RoleGate,
    ServiceView,
    auth_backend,
    clean,
    confirmed_action,
    selected_pks,
    signed_in,
)
from basis.core.errors import BasisError
from basis.core.time import utcnow

_TEMPLATES = Path(__file__).parent / "templates"
STAFF = ("admin", "operator")
"""Operators see and correct (events, schedules); admins also manage employees, terminals, accounts."""


class EmployeeAdmin(ServiceView, model=Employee):
    name = "Employee"
    name_plural = "Employees"
    icon = "fa-solid fa-id-badge"
    category = "TimeTracker"
    column_list = [
        Employee.id,
        Employee.full_name,
        Employee.nfc_uid,
        Employee.department,
        Employee.position,
        Employee.is_active,
        Employee.key_status,
        Employee.timezone,
    ]
    column_searchable_list = [Employee.full_name, Employee.nfc_uid, Employee.position, Employee.department]
    column_sortable_list = [Employee.id, Employee.full_name, Employee.department, Employee.is_active]
    column_details_exclude_list = [Employee.public_key]
    form_columns = [
        Employee.full_name,
        Employee.nfc_uid,
        Employee.position,
        Employee.department,
        Employee.comment,
        Employee.is_active,
        Employee.timezone,
    ]
    can_delete = False

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        actor, _ = await signed_in(request)
        create = self.validated(EmployeeCreate, {k: v for k, v in clean(data).items() if v is not None})
        async with self.session_maker() as session:
            return await self.run(
                service.create_employee(session=session, data=create, actor=actor)  # type: ignore[arg-type]
            )

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        changes = self.validated(EmployeeUpdate, clean(data))
        return await self.change_row(
            request,
            pk,
            lambda session, employee, actor: service.update_employee(
                session=session, employee=employee, data=changes, actor=actor
            ),
        )

    @action(name="approve_key", label="Approve phone key")
    @confirmed_action("Approve the pending keys?")
    async def approve_key(self, request: Request) -> Response:
        return await self._each(request, service.approve_key)

    @action(name="revoke_key", label="Revoke phone key")
    @confirmed_action("Revoke the keys?")
    async def revoke_key(self, request: Request) -> Response:
        return await self._each(request, service.revoke_key)

    async def _each(self, request: Request, operation: Any) -> Response:
        actor, _ = await signed_in(request)

        async def one(session: Any, employee: Employee) -> None:
            await operation(session=session, employee=employee, actor=actor)

        return await self.for_each_selected(request, one, label=lambda employee: employee.full_name)


class TerminalAdmin(ServiceView, model=Terminal):
    name = "Terminal"
    name_plural = "Terminals"
    icon = "fa-solid fa-tablet-screen-button"
    category = "TimeTracker"
    column_list = [
        Terminal.id,
        Terminal.name,
        Terminal.location,
        Terminal.is_active,
        Terminal.require_signature,
        Terminal.last_seen_at,
        Terminal.key_rotated_at,
    ]
    column_details_exclude_list = [Terminal.key_hash]
    column_export_exclude_list = [Terminal.key_hash]
    form_columns = [Terminal.name, Terminal.location, Terminal.is_active, Terminal.require_signature]
    can_delete = False
    can_export = False

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        actor, _ = await signed_in(request)
        create = self.validated(
            TerminalCreate, {k: v for k, v in clean(data).items() if k != "is_active" and v is not None}
        )
        async with self.session_maker() as session:
            # The key is never shown here: "Rotate key" on the terminal shows a fresh one once.
            created, _key = await self.run(
                service.create_terminal(session=session, data=create, actor=actor)  # type: ignore[arg-type]
            )
            return created

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        changes = self.validated(TerminalUpdate, clean(data))
        return await self.change_row(
            request,
            pk,
            lambda session, terminal, actor: service.update_terminal(
                session=session, terminal=terminal, data=changes, actor=actor
            ),
        )

    @action(name="rotate_key", label="Rotate key (shown once)")
    @confirmed_action("The old key stops working at once. Continue?")
    async def rotate_key(self, request: Request) -> Response:
        actor, _ = await signed_in(request)
        rows = []
        async with self.session_maker() as session:
            for pk in selected_pks(request):
                item = await session.get(Terminal, pk)
                if item is not None:
                    key = await service.rotate_terminal_key(session=session, terminal=item, actor=actor)  # type: ignore[arg-type]
                    rows.append(
                        f"<tr><td>{html.escape(item.name)}</td><td><code>{html.escape(key)}</code></td></tr>"
                    )
        body = (
            "<!doctype html><meta charset='utf-8'><title>New terminal keys</title>"
            "<h1>New terminal keys</h1><p>Copy each key into its terminal now: it is not stored and "
            "will not be shown again.</p><table border='1' cellpadding='6'>"
            "<tr><th>Terminal</th><th>Key</th></tr>" + "".join(rows) + "</table>"
            f"<p><a href='{request.url_for('admin:list', identity=self.identity)}'>Back to terminals</a></p>"
        )
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})


class EventAdmin(ServiceView, model=Event):
    roles = STAFF
    name = "Event"
    name_plural = "Events"
    icon = "fa-solid fa-clock"
    category = "TimeTracker"
    column_list = [
        Event.id,
        Event.employee_id,
        Event.ts,
        Event.direction,
        Event.direction_source,
        Event.terminal_id,
        Event.is_manual,
        Event.comment,
        Event.deleted_at,
    ]
    column_sortable_list = [Event.id, Event.ts, Event.employee_id]
    column_default_sort = [(Event.ts, True)]
    column_searchable_list = [Event.comment, Event.client_event_id]
    form_columns = [Event.comment]
    can_create = False
    can_delete = False
    can_export = False

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        base = await super().scaffold_form(rules)

        class CorrectionForm(base):  # type: ignore[misc, valid-type]
            timestamp = StringField(
                "Time",
                description="ISO 8601; without an offset it is the employee's local time. Empty keeps it.",
            )
            direction = SelectField(
                "Direction", choices=[("", "keep"), ("IN", "IN"), ("OUT", "OUT")], default=""
            )
            reason = StringField(
                "Reason", validators=[DataRequired()], description="Required; kept in the audit log."
            )

        return CorrectionForm

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        _, settings = await signed_in(request)
        values = clean(data)
        patch = self.validated(
            EventPatch, {k: values.get(k) for k in ("timestamp", "direction", "comment", "reason")}
        )
        return await self.change_row(
            request,
            pk,
            lambda session, event, actor: service.correct_event(
                session=session, event=event, data=patch, actor=actor, settings=settings
            ),
        )


class ScheduleAdmin(ServiceView, model=Schedule):
    roles = STAFF
    name = "Schedule cell"
    name_plural = "Schedules"
    icon = "fa-solid fa-calendar-days"
    category = "TimeTracker"
    column_list = [
        Schedule.id,
        Schedule.employee_id,
        Schedule.day,
        Schedule.start,
        Schedule.end,
        Schedule.code,
        Schedule.label,
    ]
    column_sortable_list = [Schedule.day, Schedule.employee_id]
    column_default_sort = [(Schedule.day, True)]
    form_columns = [
        Schedule.employee_id,
        Schedule.day,
        Schedule.start,
        Schedule.end,
        Schedule.code,
        Schedule.label,
    ]
    form_overrides = {"code": SelectField}
    form_args = {"code": {"choices": [(c, c) for c in parsing.SCHEDULE_CODES]}}

    async def scaffold_form(self, rules: list[str] | None = None) -> type[Form]:
        base = await super().scaffold_form(rules)

        class CellForm(base):  # type: ignore[misc, valid-type]
            # A plain id: the table has no relationship for SQLAdmin to offer a picker from.
            employee_id = IntegerField("Employee id", validators=[DataRequired()])

        return CellForm

    async def _save(self, request: Request, data: dict[str, Any]) -> Any:
        actor, _ = await signed_in(request)
        values = clean(data)
        cell = {
            "employee_id": values.get("employee_id"),
            "day": values.get("day"),
            "start": values["start"].strftime("%H:%M") if values.get("start") else None,
            "end": values["end"].strftime("%H:%M") if values.get("end") else None,
            "code": values.get("code") or "work",
            "label": values.get("label"),
        }
        async with self.session_maker() as session:
            try:
                await service.upsert_schedule_cells(session=session, cells=[cell], actor=actor)  # type: ignore[arg-type]
            except BasisError as error:
                errors = error.extra.get("errors") or [{"detail": error.detail}]
                raise ValueError(str(errors[0]["detail"])) from None
            from sqlalchemy import select

            return await session.scalar(
                select(Schedule).where(
                    Schedule.employee_id == cell["employee_id"], Schedule.day == cell["day"]
                )
            )

    async def insert_model(self, request: Request, data: dict[str, Any]) -> Any:
        return await self._save(request, data)

    async def update_model(self, request: Request, pk: str, data: dict[str, Any]) -> Any:
        saved = await self._save(request, data)
        if saved is not None and saved.id != int(pk):
            await self.delete_model(request, pk)  # the cell moved to another day or employee
        return saved

    async def delete_model(self, request: Request, pk: Any) -> None:
        actor, _ = await signed_in(request)
        async with self.session_maker() as session:
            row = await session.get(Schedule, int(pk))
            if row is not None:
                await service.delete_schedule(session=session, schedule=row, actor=actor)  # type: ignore[arg-type]


class AuditAdmin(ReadOnlyView, model=AuditEntry):
    name = "Audit entry"
    name_plural = "Audit log"
    icon = "fa-solid fa-list-check"
    category = "TimeTracker"
    column_list = [
        AuditEntry.created_at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.entity,
        AuditEntry.entity_id,
        AuditEntry.reason,
    ]
    column_searchable_list = [AuditEntry.entity, AuditEntry.action, AuditEntry.actor]
    column_sortable_list = [AuditEntry.created_at, AuditEntry.entity]
    column_default_sort = [(AuditEntry.id, True)]


class WhoIsInView(RoleGate, BaseView):
    roles = STAFF
    name = "Who is in now"
    icon = "fa-solid fa-door-open"
    category = "TimeTracker"

    @expose("/timetracker/who-is-in", methods=["GET"])
    async def who_is_in(self, request: Request) -> Response:
        _, settings = await signed_in(request)
        main_app = auth_backend(request).main_app
        async with main_app.state.db.sessionmaker() as session:
            rows = await stats.who_is_in(session, settings=settings)
        now = utcnow()
        template = self.templates.env.from_string((_TEMPLATES / "who_is_in.html").read_text())
        content = await template.render_async(
            request=request, rows=rows, now=now, zone=settings.timezone, view=self
        )
        return HTMLResponse(content)


VIEWS: list[type] = [
    EmployeeAdmin,
    TerminalAdmin,
    EventAdmin,
    ScheduleAdmin,
    AuditAdmin,
    WhoIsInView,
    *PAGE_VIEWS,
    *READ_VIEWS,
    *EDIT_VIEWS,
]
