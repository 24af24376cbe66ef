"""HTTP for TimeTracker: the terminal protocol (X-Terminal-Key), the staff API (Bearer), the
/api/login alias and the live scan feed. Thin: every rule is in a service module."""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import suppress
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Depends, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker import exports, service, stats, terminal
from basis.apps.timetracker.dependencies import (
    CurrentTerminal,
    EmployeeDep,
    EventDep,
    OwnEmployeeScope,
    ReadableEmployee,
    ReadableEvent,
    ScheduleDep,
    TerminalDep,
    scan_pipeline,
)
from basis.apps.timetracker.models import Employee, Schedule
from basis.apps.timetracker.schemas import (
    AuditPublic,
    BatchIn,
    BatchOut,
    ChallengeIn,
    ChallengeOut,
    DailyStats,
    EmployeeCreate,
    EmployeePublic,
    EmployeeUpdate,
    EventDelete,
    EventPatch,
    EventPublic,
    FirstScanIn,
    FirstScanOut,
    HeartbeatOut,
    IntervalStats,
    KeyPublic,
    LoginIn,
    LoginOut,
    ManualEventIn,
    ScanIn,
    ScanResult,
    ScheduleBulkIn,
    ScheduleBulkOut,
    ScheduleList,
    SchedulePublic,
    SecureScanIn,
    SummaryOut,
    TerminalCreate,
    TerminalKeyOut,
    TerminalPublic,
    TerminalUpdate,
    TerminalWithKey,
)
from basis.core.deps import ClientIP, InfraDep, SessionDep, SettingsDep
from basis.core.errors import BasisError, Unprocessable
from basis.core.http import documented_body, json_response, read_json_body
from basis.core.pagination import Page, Paging
from basis.core.types import NO_CONTROL, Id
from basis.identity.deps import AdminUser, OperatorUser, authenticate_token
from basis.settings import Settings

terminal_router = APIRouter(prefix="/api", tags=["timetracker: terminals"])
public_router = APIRouter(prefix="/api", tags=["timetracker"])
router = APIRouter(prefix="/api", tags=["timetracker"])

IdParam = Id | None
DateParam = Annotated[dt.date | None, Query()]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "unknown_terminal"},
    403: {"description": "terminal_inactive, terminal_mismatch, employee_inactive, signature_required, ..."},
    404: {"description": "unknown_card"},
    409: {"description": "idempotency_conflict"},
    422: {"description": "clock_skew, invalid_uid, validation_error"},
    429: {"description": "rate_limited (per terminal)"},
}


# ------------------------------------------------------------------------ terminal protocol


# The two scan routes are the hot path: they check the terminal's key and read their body by
# hand (core.http.read_json_body), before and without FastAPI's dependency machinery, which
# would cost more than the rest of the request. Answers and docs stay FastAPI's.
T = TypeVar("T")
_SCAN_IN = TypeAdapter(ScanIn)
_BATCH_IN = TypeAdapter(BatchIn)


async def _scanning(
    request: Request, body: TypeAdapter[T]
) -> tuple[terminal.Pipeline, terminal.TerminalCtx, T]:
    """The caller's terminal (401/403/429 first), then the body (422)."""
    pipeline = scan_pipeline(request)
    ctx = await pipeline.terminal(request.headers.get("x-terminal-key"))
    try:
        return pipeline, ctx, await read_json_body(request, body)
    except (RequestValidationError, StarletteHTTPException):
        await pipeline.confirm(ctx)  # a remembered key gets no answer the database would refuse
        raise


@terminal_router.post(
    "/terminal/scan",
    response_model=ScanResult,
    responses=_REFUSALS,
    openapi_extra=documented_body(ScanIn, "X-Terminal-Key"),
)
async def terminal_scan(request: Request) -> Response:
    pipeline, ctx, payload = await _scanning(request, _SCAN_IN)
    return json_response(await terminal.scan(pipeline, ctx, payload))


@terminal_router.post(
    "/terminal/scans",
    response_model=BatchOut,
    responses=_REFUSALS,
    openapi_extra=documented_body(BatchIn, "X-Terminal-Key"),
)
async def terminal_scans(request: Request) -> Response:
    pipeline, ctx, payload = await _scanning(request, _BATCH_IN)
    return json_response(BatchOut(results=await terminal.scan_batch(pipeline, ctx, payload.scans)))


@terminal_router.post("/terminal/challenge", response_model=ChallengeOut, responses=_REFUSALS)
async def terminal_challenge(
    ctx: CurrentTerminal, infra: InfraDep, payload: Annotated[ChallengeIn | None, Body()] = None
) -> ChallengeOut:
    terminal.check_terminal_id(ctx, payload.terminal_id if payload is not None else None)
    return await terminal.issue_challenge(ctx, infra=infra)


@terminal_router.post(
    "/terminal/secure-scan", response_model=ScanResult, response_model_exclude_none=True, responses=_REFUSALS
)
async def terminal_secure_scan(
    payload: SecureScanIn, ctx: CurrentTerminal, session: SessionDep, request: Request
) -> ScanResult:
    return await terminal.secure_scan(scan_pipeline(request), session, ctx, payload)


@terminal_router.post(
    "/register/first-scan", status_code=202, response_model=FirstScanOut, responses=_REFUSALS
)
async def register_first_scan(
    payload: FirstScanIn, ctx: CurrentTerminal, session: SessionDep
) -> FirstScanOut:
    return await terminal.first_scan(session, ctx, payload)


@terminal_router.post("/terminal/heartbeat", response_model=HeartbeatOut, responses=_REFUSALS)
async def terminal_heartbeat(
    ctx: CurrentTerminal, session: SessionDep, settings: SettingsDep
) -> HeartbeatOut:
    return await terminal.heartbeat(session, ctx, settings=settings)


# ------------------------------------------------------------------- login alias, live feed


@public_router.post(
    "/login",
    response_model=LoginOut,
    responses={401: {"description": "invalid_credentials"}, 429: {"description": "rate_limited"}},
)
async def login(
    payload: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    ip: ClientIP,
) -> LoginOut:
    """The original's login: ``{username, password}`` (a username or an email) -> a bearer token."""
    from basis.identity.service import Meta, authenticate_login

    issued = await authenticate_login(
        session=session,
        settings=settings,
        infra=infra,
        identifier=payload.username,
        password=payload.password,
        meta=Meta(ip=ip, user_agent=request.headers.get("user-agent"), device="timetracker"),
        channel="timetracker",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return LoginOut(
        access_token=issued.access_token,
        token_type="bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=issued.expires_in,
        role=issued.user.role,
    )


WS_POLICY_VIOLATION = 1008


@public_router.websocket("/ws/scans")
async def ws_scans(websocket: WebSocket, token: str | None = None) -> None:
    """Accepted scans as they happen, for admins and operators (any server process)."""
    state = websocket.app.state
    allowed = False
    if token:
        async with state.db.sessionmaker() as session:
            try:
                user, _ = await authenticate_token(websocket, session, token)
                allowed = user.role in ("admin", "operator")
            except BasisError:
                allowed = False
    await websocket.accept()
    if not allowed:
        await websocket.close(code=WS_POLICY_VIOLATION, reason="a valid admin or operator token is required")
        return
    async with state.infra.hub.subscribe(terminal.SCAN_TOPIC) as subscription:

        async def forward() -> None:
            async for message in subscription:
                await websocket.send_json(message)

        pump = asyncio.create_task(forward())
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except WebSocketDisconnect:
            pass
        finally:
            pump.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await pump


# ---------------------------------------------------------------------------- employees


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
    rows, total = await service.list_employees(
        session=session,
        q=q,
        department=department,
        is_active=is_active,
        limit=page.limit,
        offset=page.offset,
    )
    return page.page([employee_public(e, settings) for e in rows], total)


@router.post("/employees", status_code=201, response_model=EmployeePublic)
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


@router.patch("/employees/{employee_id}", response_model=EmployeePublic)
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
        fingerprint_sha256=service.key_fingerprint(employee.public_key),
        submitted_at=employee.key_submitted_at,
    )


@router.get("/employees/{employee_id}/key", response_model=KeyPublic)
async def get_employee_key(employee: EmployeeDep, _: AdminUser) -> KeyPublic:
    return key_public(employee)


@router.post("/employees/{employee_id}/key/approve", response_model=KeyPublic)
async def approve_employee_key(employee: EmployeeDep, actor: AdminUser, session: SessionDep) -> KeyPublic:
    return key_public(await service.approve_key(session=session, employee=employee, actor=actor))


@router.post("/employees/{employee_id}/key/revoke", response_model=KeyPublic)
async def revoke_employee_key(employee: EmployeeDep, actor: AdminUser, session: SessionDep) -> KeyPublic:
    return key_public(await service.revoke_key(session=session, employee=employee, actor=actor))


# ------------------------------------------------------------------------------- events


@router.get("/events", response_model=Page[EventPublic])
@router.get("/events/", response_model=Page[EventPublic], include_in_schema=False)
async def list_events(
    scope: OwnEmployeeScope,
    session: SessionDep,
    settings: SettingsDep,
    page: Paging,
    employee_id: IdParam = None,
    terminal_id: IdParam = None,
    since: Annotated[str | None, Query(alias="from", max_length=64, pattern=NO_CONTROL)] = None,
    until: Annotated[str | None, Query(alias="to", max_length=64, pattern=NO_CONTROL)] = None,
    direction: str | None = Query(None, max_length=10, pattern=NO_CONTROL),
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
            zone = service.zone_of(employee, settings)
    query = service.events_query(
        employee_id=employee_id,
        terminal_id=terminal_id,
        since=service.parse_bound(since, zone, upper=False) if since else None,
        until=service.parse_bound(until, zone, upper=True) if until else None,
        direction=service.normalise_direction(direction),
        is_manual=is_manual,
        include_deleted=include_deleted,
    )
    rows, total = await service.list_events(
        session=session, query=query, limit=page.limit, offset=page.offset
    )
    return page.page([EventPublic.model_validate(e) for e in rows], total)


@router.post("/events/manual", status_code=201, response_model=EventPublic)
async def create_manual_event(
    data: ManualEventIn, actor: OperatorUser, session: SessionDep, settings: SettingsDep
) -> EventPublic:
    event = await service.create_manual_event(session=session, data=data, actor=actor, settings=settings)
    return EventPublic.model_validate(event)


@router.get("/events/{event_id}", response_model=EventPublic)
async def get_event(event: ReadableEvent) -> EventPublic:
    return EventPublic.model_validate(event)


@router.patch("/events/{event_id}", response_model=EventPublic)
async def correct_event(
    event: EventDep, data: EventPatch, actor: OperatorUser, session: SessionDep, settings: SettingsDep
) -> EventPublic:
    event = await service.correct_event(
        session=session, event=event, data=data, actor=actor, settings=settings
    )
    return EventPublic.model_validate(event)


@router.delete("/events/{event_id}", response_model=EventPublic)
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


# -------------------------------------------------------------------------------- stats


def _range(
    from_date: dt.date | None,
    date_from: dt.date | None,
    to_date: dt.date | None,
    date_to: dt.date | None,
    zone: str,
) -> stats.Range:
    return stats.resolve_range(from_date or date_from, to_date or date_to, zone)


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
    rng = stats.resolve_range(*dates, service.zone_of(employee, settings))
    return await stats.employee_intervals(session, employee=employee, rng=rng, settings=settings)


@router.get("/stats/employee/{employee_id}/daily", response_model=DailyStats)
async def employee_daily_stats(
    employee: ReadableEmployee, session: SessionDep, settings: SettingsDep, dates: RequestedDates
) -> DailyStats:
    zone = service.zone_of(employee, settings)
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
    rng = _range(from_date, date_from, to_date, date_to, settings.timezone)
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


# ---------------------------------------------------------------------------- schedules


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
        label=row.label or service.CODE_LABELS.get(row.code),
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
    rng = _range(from_date, date_from, to_date, date_to, settings.timezone)
    rows = await service.list_schedules(
        session=session, from_date=rng.from_date, to_date=rng.to_date, employee_id=employee_id
    )
    return ScheduleList(
        date_from=rng.from_date, date_to=rng.to_date, items=[schedule_public(r) for r in rows]
    )


@router.post("/schedules", response_model=ScheduleBulkOut)
@router.post("/schedules/", response_model=ScheduleBulkOut, include_in_schema=False)
@router.post("/schedule", response_model=ScheduleBulkOut, include_in_schema=False)
async def save_schedules(data: ScheduleBulkIn, actor: OperatorUser, session: SessionDep) -> ScheduleBulkOut:
    saved, deleted, errors = await service.upsert_schedule_cells(
        session=session, cells=data.cells, actor=actor
    )
    return ScheduleBulkOut(
        saved=saved, deleted=deleted, errors=errors, success=saved + deleted, failed=len(errors)
    )


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response)
async def delete_schedule(schedule: ScheduleDep, actor: OperatorUser, session: SessionDep) -> Response:
    await service.delete_schedule(session=session, schedule=schedule, actor=actor)
    return Response(status_code=204)


# ---------------------------------------------------------------------------- terminals


@router.get("/terminals", response_model=Page[TerminalPublic])
@router.get("/terminals/", response_model=Page[TerminalPublic], include_in_schema=False)
async def list_terminals(
    _: AdminUser, session: SessionDep, page: Paging
) -> Page[TerminalPublic]:
    rows, total = await service.list_terminals(session=session, limit=page.limit, offset=page.offset)
    return page.page([TerminalPublic.model_validate(t) for t in rows], total)


@router.post("/terminals", status_code=201, response_model=TerminalWithKey)
@router.post("/terminals/", status_code=201, response_model=TerminalWithKey, include_in_schema=False)
async def create_terminal(data: TerminalCreate, actor: AdminUser, session: SessionDep) -> TerminalWithKey:
    created, key = await service.create_terminal(session=session, data=data, actor=actor)
    return TerminalWithKey(**TerminalPublic.model_validate(created).model_dump(), api_key=key)


@router.get("/terminals/{terminal_id}", response_model=TerminalPublic)
async def get_terminal(item: TerminalDep, _: AdminUser) -> TerminalPublic:
    return TerminalPublic.model_validate(item)


@router.patch("/terminals/{terminal_id}", response_model=TerminalPublic)
async def update_terminal(
    item: TerminalDep, data: TerminalUpdate, actor: AdminUser, session: SessionDep
) -> TerminalPublic:
    updated = await service.update_terminal(session=session, terminal=item, data=data, actor=actor)
    return TerminalPublic.model_validate(updated)


@router.post("/terminals/{terminal_id}/rotate-key", response_model=TerminalKeyOut)
@router.post("/terminals/{terminal_id}/rotate_key", response_model=TerminalKeyOut, include_in_schema=False)
async def rotate_terminal_key(item: TerminalDep, actor: AdminUser, session: SessionDep) -> TerminalKeyOut:
    key = await service.rotate_terminal_key(session=session, terminal=item, actor=actor)
    return TerminalKeyOut(id=item.id, name=item.name, api_key=key)


# -------------------------------------------------------------------------------- audit


@router.get("/audit", response_model=Page[AuditPublic])
async def list_audit(
    _: AdminUser,
    session: SessionDep,
    page: Paging,
    entity: str | None = Query(None, max_length=40, pattern=NO_CONTROL),
    entity_id: IdParam = None,
    action: str | None = Query(None, max_length=40, pattern=NO_CONTROL),
    actor_id: IdParam = None,
) -> Page[AuditPublic]:
    rows, total = await service.list_audit(
        session=session,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor_id=actor_id,
        limit=page.limit,
        offset=page.offset,
    )
    return page.page([AuditPublic.model_validate(r) for r in rows], total)
