"""The staff API over employees, their phone keys and their events (Bearer; operators read,
admins change employees and keys)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from basis.apps.timetracker import compat, queries, service
from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.dependencies import EmployeeDep, EventDep, OwnEmployeeScope, ReadableEvent
from basis.apps.timetracker.keys import key_fingerprint
from basis.apps.timetracker.models import Employee
from basis.apps.timetracker.params import IdParam
from basis.apps.timetracker.parsing import normalise_direction, parse_bound
from basis.apps.timetracker.policy import zone_of
from basis.apps.timetracker.schemas import (
    BOUND_PATTERN,
    OPTIONAL_DIRECTION_PATTERN,
    EmployeeCreate,
    EmployeePublic,
    EmployeeUpdate,
    EventDelete,
    EventPatch,
    EventPublic,
    KeyPublic,
    ManualEventIn,
    ManualEventListed,
)
from basis.core.deps import SessionDep, SettingsDep
from basis.core.errors import Unprocessable
from basis.core.pagination import Page, Paging
from basis.core.types import NO_CONTROL
from basis.identity.deps import AdminUser, OperatorUser
from basis.settings import Settings

router = APIRouter(prefix="/api", tags=["timetracker"])
# The domain's own refusals; the core declares the ones every route can give (core/openapi.py).
_EMPLOYEE_CONFLICTS: dict[int | str, dict[str, str]] = {
    404: {"description": "user_not_found: the user_id to link"},
    409: {"description": "duplicate_uid, user_already_linked"},
}
_KEY_STATE: dict[int | str, dict[str, str]] = {409: {"description": "no_pending_key, no_key"}}
# A range bound: an ISO date or date-time, checked by parsing.parse_bound; declared for clients.
_BOUND: dict[str, Any] = {
    "max_length": 64,
    "pattern": NO_CONTROL,
    "json_schema_extra": {"pattern": BOUND_PATTERN},
}
_OVERLAP: dict[int | str, dict[str, str]] = {409: {"description": "overlap, event_deleted"}}
_MANUAL_REFUSALS: dict[int | str, dict[str, str]] = {
    404: {"description": "employee_not_found, terminal_not_found"},
    409: {"description": "overlap"},
}


def employee_public(employee: Employee, settings: Settings) -> EmployeePublic:
    return EmployeePublic(
        id=employee.id,
        full_name=employee.full_name,
        nfc_uid=employee.nfc_uid,
        position=employee.position,
        department=employee.department,
        comment=employee.comment,
        is_active=employee.is_active,
        timezone=employee.timezone or settings.timezone,
        timezone_is_default=employee.timezone is None,
        key_status=employee.key_status,
        user_id=employee.user_id,
        created_at=employee.created_at,
        updated_at=employee.updated_at,
    )


@router.get("/employees", response_model=Page[EmployeePublic])
@router.get("/employees/", response_model=Page[EmployeePublic], include_in_schema=False)
async def list_employees(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    page: Paging,
    q: str | None = Query(None, max_length=200, pattern=NO_CONTROL),
    department: str | None = Query(None, max_length=120, pattern=NO_CONTROL),
    is_active: bool | None = None,
) -> Page[EmployeePublic]:
    rows, total = await queries.list_employees(
        session=session,
        q=q,
        department=department,
        is_active=is_active,
        limit=page.limit,
        offset=page.offset,
    )
    return page.page([employee_public(e, settings) for e in rows], total)


@router.post("/employees", status_code=201, response_model=EmployeePublic, responses=_EMPLOYEE_CONFLICTS)
@router.post("/employees/", status_code=201, response_model=EmployeePublic, include_in_schema=False)
async def create_employee(
    data: EmployeeCreate, actor: AdminUser, session: SessionDep, settings: SettingsDep
) -> EmployeePublic:
    employee = await service.create_employee(session=session, data=data, actor=actor)
    return employee_public(employee, settings)


@router.get("/employees/{employee_id}", response_model=EmployeePublic)
@router.get("/employees/{employee_id}/", response_model=EmployeePublic, include_in_schema=False)
async def get_employee(employee: EmployeeDep, _: OperatorUser, settings: SettingsDep) -> EmployeePublic:
    return employee_public(employee, settings)


@router.patch("/employees/{employee_id}", response_model=EmployeePublic, responses=_EMPLOYEE_CONFLICTS)
@router.patch("/employees/{employee_id}/", response_model=EmployeePublic, include_in_schema=False)
async def update_employee(
    employee: EmployeeDep, data: EmployeeUpdate, actor: AdminUser, session: SessionDep, settings: SettingsDep
) -> EmployeePublic:
    employee = await service.update_employee(session=session, employee=employee, data=data, actor=actor)
    return employee_public(employee, settings)


def key_public(employee: Employee) -> KeyPublic:
    return KeyPublic(
        employee_id=employee.id,
        key_status=employee.key_status,
        public_key_b64=employee.public_key,
        fingerprint_sha256=key_fingerprint(employee.public_key),
        submitted_at=employee.key_submitted_at,
    )


@router.get("/employees/{employee_id}/key", response_model=KeyPublic)
async def get_employee_key(employee: EmployeeDep, _: AdminUser) -> KeyPublic:
    return key_public(employee)


@router.post("/employees/{employee_id}/key/approve", response_model=KeyPublic, responses=_KEY_STATE)
async def approve_employee_key(employee: EmployeeDep, actor: AdminUser, session: SessionDep) -> KeyPublic:
    return key_public(await service.approve_key(session=session, employee=employee, actor=actor))


@router.post("/employees/{employee_id}/key/revoke", response_model=KeyPublic, responses=_KEY_STATE)
async def revoke_employee_key(employee: EmployeeDep, actor: AdminUser, session: SessionDep) -> KeyPublic:
    return key_public(await service.revoke_key(session=session, employee=employee, actor=actor))


# -------------------------------------------------------------------------------------- events


@router.get("/events", response_model=Page[EventPublic])
@router.get("/events/", response_model=Page[EventPublic], include_in_schema=False)
async def list_events(
    scope: OwnEmployeeScope,
    session: SessionDep,
    settings: SettingsDep,
    page: Paging,
    employee_id: IdParam = None,
    terminal_id: IdParam = None,
    since: Annotated[
        str | None, Query(alias="from", max_length=64, pattern=NO_CONTROL, json_schema_extra=_BOUND)
    ] = None,
    until: Annotated[
        str | None, Query(alias="to", max_length=64, pattern=NO_CONTROL, json_schema_extra=_BOUND)
    ] = None,
    direction: str | None = Query(
        None, max_length=10, pattern=NO_CONTROL, json_schema_extra={"pattern": OPTIONAL_DIRECTION_PATTERN}
    ),
    is_manual: bool | None = None,
    include_deleted: bool = False,
) -> Page[EventPublic]:
    if scope is not None:
        if employee_id is not None and employee_id != scope:
            raise exc.not_your_employee()
        employee_id = scope
    zone = settings.timezone
    if employee_id is not None and (since or until):
        employee = await session.get(Employee, employee_id)
        if employee is not None:
            zone = zone_of(employee, settings)
    query = queries.events_query(
        employee_id=employee_id,
        terminal_id=terminal_id,
        since=parse_bound(since, zone, upper=False) if since else None,
        until=parse_bound(until, zone, upper=True) if until else None,
        direction=normalise_direction(direction),
        is_manual=is_manual,
        include_deleted=include_deleted,
    )
    rows, total = await queries.list_events(
        session=session, query=query, limit=page.limit, offset=page.offset
    )
    return page.page([EventPublic.model_validate(e) for e in rows], total)


@router.post("/events/manual", status_code=201, response_model=EventPublic, responses=_MANUAL_REFUSALS)
async def create_manual_event(
    data: ManualEventIn, actor: OperatorUser, session: SessionDep, settings: SettingsDep
) -> EventPublic:
    event = await service.create_manual_event(session=session, data=data, actor=actor, settings=settings)
    return EventPublic.model_validate(event)


@router.get("/events/manual", response_model=list[ManualEventListed])
async def list_manual_events(
    _: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ManualEventListed]:
    """The original's list of the newest manual events (its admin page reads it); the
    canonical list is ``GET /api/events?is_manual=true``."""
    return await compat.recent_manual_events(session=session, settings=settings, limit=limit)


@router.get("/events/{event_id}", response_model=EventPublic)
async def get_event(event: ReadableEvent) -> EventPublic:
    return EventPublic.model_validate(event)


@router.patch("/events/{event_id}", response_model=EventPublic, responses=_OVERLAP)
async def correct_event(
    event: EventDep, data: EventPatch, actor: OperatorUser, session: SessionDep, settings: SettingsDep
) -> EventPublic:
    event = await service.correct_event(
        session=session, event=event, data=data, actor=actor, settings=settings
    )
    return EventPublic.model_validate(event)


@router.delete("/events/{event_id}", response_model=EventPublic, responses=_OVERLAP)
async def delete_event(
    event: EventDep,
    actor: OperatorUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    reason: str | None = Query(None, max_length=500, pattern=NO_CONTROL),
) -> EventPublic:
    body_reason = None
    if await request.body():
        try:
            body_reason = EventDelete.model_validate_json(await request.body()).reason
        except ValidationError as error:
            raise Unprocessable(
                error.errors(include_url=False, include_context=False), code="validation_error"
            ) from None
    text = (body_reason or reason or "").strip()
    if not text:
        raise exc.reason_required()
    event = await service.delete_event(
        session=session, event=event, reason=text, actor=actor, settings=settings
    )
    return EventPublic.model_validate(event)
