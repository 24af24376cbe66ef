"""Dependencies that load or refuse: entities by id, the terminal behind a key, self-service."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.models import Employee, Event, Schedule, Terminal
from basis.apps.timetracker.queries import employee_for_user
from basis.apps.timetracker.terminal import Pipeline, TerminalCtx, authenticate
from basis.core.db import get_or_404
from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.types import Id
from basis.identity.deps import CurrentUser

STAFF_ROLES = ("admin", "operator")
T = TypeVar("T")


async def valid_employee_id(employee_id: Id, session: SessionDep) -> Employee:
    return await get_or_404(session, Employee, employee_id, exc.employee_not_found)


async def readable_employee_id(employee_id: Id, session: SessionDep, user: CurrentUser) -> Employee:
    """Staff read any employee; a user only the employee linked to their account."""
    if user.role not in STAFF_ROLES:
        own = await employee_for_user(session, user.id)
        if own != employee_id:
            raise exc.not_your_employee()
    return await valid_employee_id(employee_id, session)


async def valid_event_id(event_id: Id, session: SessionDep) -> Event:
    return await get_or_404(session, Event, event_id, exc.event_not_found)


async def readable_event_id(event_id: Id, session: SessionDep, user: CurrentUser) -> Event:
    event = await valid_event_id(event_id, session)
    if user.role not in STAFF_ROLES and await employee_for_user(session, user.id) != event.employee_id:
        raise exc.not_your_employee()
    return event


async def valid_terminal_id(terminal_id: Id, session: SessionDep) -> Terminal:
    return await get_or_404(session, Terminal, terminal_id, exc.terminal_not_found)


async def valid_schedule_id(schedule_id: Id, session: SessionDep) -> Schedule:
    return await get_or_404(session, Schedule, schedule_id, exc.schedule_not_found)


TERMINAL_KEY_HEADER = "X-Terminal-Key"
TERMINAL_KEY_SCHEME = "TerminalKey"
# A security scheme, not a plain header parameter: clients generated from the document send
# the key as a credential, and the document says which calls need one.
terminal_key = APIKeyHeader(
    name=TERMINAL_KEY_HEADER,
    scheme_name=TERMINAL_KEY_SCHEME,
    description="The terminal's API key (shown once when the terminal is created or its key rotated)",
    auto_error=False,
)


async def current_terminal(
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    x_terminal_key: Annotated[str | None, Depends(terminal_key)] = None,
) -> TerminalCtx:
    return await authenticate(session, x_terminal_key, infra=infra, settings=settings)


def scan_pipeline(request: Request) -> Pipeline:
    return request.app.state.timetracker_scans  # type: ignore[no-any-return]


async def self_service_employee(session: SessionDep, user: CurrentUser) -> int | None:
    """None for staff (no restriction); the linked employee's id for a user (403 without one)."""
    if user.role in STAFF_ROLES:
        return None
    own = await employee_for_user(session, user.id)
    if own is None:
        raise exc.not_your_employee()
    return own


EmployeeDep = Annotated[Employee, Depends(valid_employee_id)]
ReadableEmployee = Annotated[Employee, Depends(readable_employee_id)]
EventDep = Annotated[Event, Depends(valid_event_id)]
ReadableEvent = Annotated[Event, Depends(readable_event_id)]
TerminalDep = Annotated[Terminal, Depends(valid_terminal_id)]
ScheduleDep = Annotated[Schedule, Depends(valid_schedule_id)]
CurrentTerminal = Annotated[TerminalCtx, Depends(current_terminal)]
OwnEmployeeScope = Annotated[int | None, Depends(self_service_employee)]
