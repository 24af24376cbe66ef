"""TimeTracker's rules for staff work: employees, manual events and corrections, schedules,
terminals, phone keys and the audit log. Scan ingestion lives in ``terminal.py``; reports in
``stats.py``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, and_, bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker import engine
from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.models import AuditEntry, Employee, Event, Schedule, Terminal
from basis.apps.timetracker.schemas import (
    EmployeeCreate,
    EmployeeUpdate,
    EventPatch,
    ManualEventIn,
    ScheduleCellError,
    ScheduleCellIn,
    TerminalCreate,
    TerminalUpdate,
)
from basis.core.audit import AuditTrail, snapshot
from basis.core.db import lock_row
from basis.core.errors import BasisError, Unprocessable
from basis.core.time import get_zone, is_valid_zone, parse_instant, utcnow
from basis.identity.models import User
from basis.settings import Settings

EVENTS = Event.__table__
EMPLOYEES = Employee.__table__
SCHEDULE_CODES = ("work", "off", "sick", "vacation", "holiday")
CODE_LABELS = {
    "work": "Work",
    "off": "Day off",
    "sick": "Sick leave",
    "vacation": "Vacation",
    "holiday": "Holiday",
}
_UID_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-F]+$")
T = TypeVar("T")
# A placeholder id for an event not yet inserted: sorts after every stored event of the same ts.
PENDING_ID = 2**62


# ------------------------------------------------------------------------------- values


def normalise_uid(raw: str) -> str:
    """``04:a1-b2 c3`` -> ``04A1B2C3``; 422 ``invalid_uid`` for anything but hex."""
    uid = _UID_SEPARATORS.sub("", raw or "").upper()
    if not uid or not _HEX.match(uid) or len(uid) > 64:
        raise Unprocessable(
            "A card UID is hexadecimal, optionally with ':', '-' or spaces between bytes",
            code="invalid_uid",
            extra={"ok": False},
        )
    return uid


def normalise_direction(raw: str | None, *, required: bool = False) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise Unprocessable("direction must be IN or OUT", code="invalid_direction")
        return None
    value = raw.strip().upper()
    if value not in ("IN", "OUT"):
        raise Unprocessable("direction must be IN or OUT", code="invalid_direction", extra={"ok": False})
    return value


def zone_name(employee_zone: str | None, settings: Settings) -> str:
    return employee_zone or settings.timezone


def policy(settings: Settings) -> engine.Policy:
    return engine.Policy(
        max_shift=dt.timedelta(hours=settings.timetracker_max_shift_hours),
        missing_out_policy=settings.timetracker_missing_out_policy,
        late_grace_minutes=settings.timetracker_late_grace_minutes,
        early_exit_grace_minutes=settings.timetracker_early_exit_grace_minutes,
        overtime_tolerance_minutes=settings.timetracker_overtime_tolerance_minutes,
        check_in_window_minutes=settings.timetracker_check_in_window_minutes,
    )


def max_shift(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.timetracker_max_shift_hours)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_terminal_key() -> str:
    return "tk_" + secrets.token_urlsafe(32)


def b64decode_any(value: str) -> bytes:
    """Standard or URL-safe base64, padding optional; ValueError when it is neither."""
    text = "".join(value.split())
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not base64") from error


EMPLOYEE_FIELDS = (
    "id",
    "full_name",
    "nfc_uid",
    "position",
    "department",
    "comment",
    "is_active",
    "timezone",
    "key_status",
    "user_id",
)
EVENT_FIELDS = (
    "id",
    "employee_id",
    "terminal_id",
    "ts",
    "direction",
    "direction_source",
    "is_manual",
    "comment",
    "client_event_id",
    "deleted_at",
    "delete_reason",
)
SCHEDULE_FIELDS = ("id", "employee_id", "day", "start", "end", "code", "label")
TERMINAL_FIELDS = ("id", "name", "location", "is_active", "require_signature")


audit = AuditTrail(AuditEntry).record


async def lock_employee(session: AsyncSession, employee_id: int) -> None:
    """Serialise every write that reads and then changes one employee's events (R8): a row
    lock on the employee, held to the end of the transaction."""
    await lock_row(session, EMPLOYEES, employee_id)


# ---------------------------------------------------------------------------- employees


def _check_zone(name: str | None) -> str | None:
    if name in (None, ""):
        return None
    if not is_valid_zone(name):
        raise Unprocessable(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Warsaw", code="invalid_timezone"
        )
    return name


async def _check_user_link(session: AsyncSession, user_id: int | None, employee_id: int | None) -> None:
    if user_id is None:
        return
    if await session.get(User, user_id) is None:
        raise exc.user_not_found()
    linked = await session.scalar(select(Employee.id).where(Employee.user_id == user_id))
    if linked is not None and linked != employee_id:
        raise exc.user_already_linked()


async def _flush_unique(session: AsyncSession, *, uid_conflict: BasisError) -> None:
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise uid_conflict from None


async def _insert_audited(
    session: AsyncSession,
    row: Employee | Terminal,
    *,
    actor: User,
    entity: str,
    fields: Sequence[str],
    conflict: BasisError,
) -> None:
    """Insert ``row`` (``conflict`` when a unique column clashes), audit it and commit."""
    session.add(row)
    await _flush_unique(session, uid_conflict=conflict)
    audit(session, actor=actor, action="create", entity=entity, entity_id=row.id, after=snapshot(row, fields))
    await session.commit()


async def create_employee(*, session: AsyncSession, data: EmployeeCreate, actor: User) -> Employee:
    uid = normalise_uid(data.nfc_uid)
    zone = _check_zone(data.timezone)
    if await session.scalar(select(Employee.id).where(Employee.nfc_uid == uid)) is not None:
        raise exc.duplicate_uid()
    await _check_user_link(session, data.user_id, None)
    employee = Employee(
        full_name=data.full_name,
        nfc_uid=uid,
        position=data.position or None,
        department=data.department or None,
        comment=data.comment,
        is_active=data.is_active,
        timezone=zone,
        user_id=data.user_id,
        key_status="none",
    )
    await _insert_audited(
        session,
        employee,
        actor=actor,
        entity="employee",
        fields=EMPLOYEE_FIELDS,
        conflict=exc.duplicate_uid(),
    )
    return employee


async def update_employee(
    *, session: AsyncSession, employee: Employee, data: EmployeeUpdate, actor: User
) -> Employee:
    changes = data.model_dump(exclude_unset=True)
    before = snapshot(employee, EMPLOYEE_FIELDS)
    if "nfc_uid" in changes:
        if changes["nfc_uid"] is None:
            raise Unprocessable("nfc_uid cannot be empty", code="invalid_uid")
        changes["nfc_uid"] = normalise_uid(changes["nfc_uid"])
        other = await session.scalar(
            select(Employee.id).where(Employee.nfc_uid == changes["nfc_uid"], Employee.id != employee.id)
        )
        if other is not None:
            raise exc.duplicate_uid()
    for required in ("full_name", "is_active"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null", code="invalid_value")
    if "timezone" in changes:
        changes["timezone"] = _check_zone(changes["timezone"])
    if "user_id" in changes:
        await _check_user_link(session, changes["user_id"], employee.id)
    for name in ("position", "department"):
        if name in changes and changes[name] == "":
            changes[name] = None
    for name, value in changes.items():
        setattr(employee, name, value)
    after = snapshot(employee, EMPLOYEE_FIELDS)
    if after != before:
        employee.updated_at = utcnow()
        await _flush_unique(session, uid_conflict=exc.duplicate_uid())
        action = "deactivate" if before["is_active"] and not after["is_active"] else "update"
        audit(
            session,
            actor=actor,
            action=action,
            entity="employee",
            entity_id=employee.id,
            before=before,
            after=after,
        )
        await session.commit()
    return employee


async def _page(
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
        uid_term = _UID_SEPARATORS.sub("", term).upper()
        if uid_term and _HEX.match(uid_term):
            options.append(Employee.nfc_uid.like(f"%{uid_term}%"))
        conditions.append(or_(*options))
    if department:
        conditions.append(Employee.department == department)
    if is_active is not None:
        conditions.append(Employee.is_active == is_active)
    return await _page(
        session, Employee, conditions, (Employee.full_name, Employee.id), limit=limit, offset=offset
    )


async def employee_for_user(session: AsyncSession, user_id: int) -> int | None:
    return await session.scalar(select(Employee.id).where(Employee.user_id == user_id))


# ------------------------------------------------------------------------- phone keys


def parse_public_key(public_key_b64: str) -> str:
    """The key in canonical standard base64, or 422 when it is not an RSA SPKI (DER) key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        der = b64decode_any(public_key_b64)
        key = load_der_public_key(der)
    except (ValueError, TypeError):
        raise exc.invalid_public_key() from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise exc.invalid_public_key("Only RSA keys are accepted (PKCS#1 v1.5, SHA-256 signatures)")
    if key.key_size < 2048:
        raise exc.invalid_public_key("RSA keys shorter than 2048 bits are refused")
    return base64.b64encode(der).decode()


def key_fingerprint(public_key_b64: str | None) -> str | None:
    if not public_key_b64:
        return None
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()


async def _set_key_status(
    session: AsyncSession, employee: Employee, actor: User, *, status: str, action: str
) -> Employee:
    before = {"key_status": employee.key_status, "fingerprint": key_fingerprint(employee.public_key)}
    employee.key_status = status
    employee.updated_at = utcnow()
    audit(
        session,
        actor=actor,
        action=action,
        entity="employee",
        entity_id=employee.id,
        before=before,
        after={**before, "key_status": status},
    )
    await session.commit()
    return employee


async def approve_key(*, session: AsyncSession, employee: Employee, actor: User) -> Employee:
    if employee.key_status != "pending" or not employee.public_key:
        raise exc.no_pending_key()
    return await _set_key_status(session, employee, actor, status="active", action="key_approve")


async def revoke_key(*, session: AsyncSession, employee: Employee, actor: User) -> Employee:
    if employee.key_status not in ("pending", "active"):
        raise exc.no_key()
    return await _set_key_status(session, employee, actor, status="revoked", action="key_revoke")


# ------------------------------------------------------------------------------ events


async def load_employee_events(
    session: AsyncSession, employee_id: int, since: dt.datetime, until: dt.datetime | None = None
) -> list[engine.EventIn]:
    conditions = [EVENTS.c.employee_id == employee_id, EVENTS.c.ts >= since, EVENTS.c.deleted_at.is_(None)]
    if until is not None:
        conditions.append(EVENTS.c.ts < until)
    rows = await session.execute(
        select(EVENTS.c.id, EVENTS.c.ts, EVENTS.c.direction, EVENTS.c.direction_source)
        .where(*conditions)
        .order_by(EVENTS.c.ts, EVENTS.c.id)
    )
    return [engine.EventIn(r[0], r[1], r[2], r[3]) for r in rows]


_UPDATE_DIRECTION = (
    update(EVENTS).where(EVENTS.c.id == bindparam("b_id")).values(direction=bindparam("b_direction"))
)


async def apply_directions(
    session: AsyncSession,
    events: Sequence[engine.EventIn],
    derived: Sequence[tuple[int, str]],
) -> None:
    """Store the derived directions that changed (R2: late events re-derive later ones)."""
    stored = {e.id: e for e in events}
    changes = [
        {"b_id": event_id, "b_direction": direction}
        for event_id, direction in derived
        if event_id in stored
        and stored[event_id].source == "derived"
        and stored[event_id].direction != direction
    ]
    if changes:
        await session.execute(_UPDATE_DIRECTION, changes)


async def recompute_after(
    session: AsyncSession, employee_id: int, since: dt.datetime, settings: Settings
) -> None:
    """Re-derive directions of the employee's events from ``since`` on, as R2 asks."""
    shift = max_shift(settings)
    events = await load_employee_events(session, employee_id, since - shift)
    derived = engine.derive_directions(events, shift, trust_stored_before=since)
    await apply_directions(session, events, derived)


def _closed_intervals(
    events: Sequence[engine.EventIn], settings: Settings, now: dt.datetime, trust_before: dt.datetime
) -> list[engine.Interval]:
    flag = engine.Policy(max_shift=max_shift(settings), missing_out_policy="flag")
    intervals, _ = engine.build_intervals(events, [], "UTC", flag, now, trust_stored_before=trust_before)
    return intervals


async def check_overlap(
    session: AsyncSession,
    *,
    employee_id: int,
    ts: dt.datetime,
    direction: str,
    settings: Settings,
    now: dt.datetime,
    moving: Event | None = None,
) -> None:
    """R9: refuse a manual event or a correction that lands inside an existing interval or
    changes an interval it is not part of."""
    shift = max_shift(settings)
    earliest = min(ts, moving.ts) if moving is not None else ts
    events = await load_employee_events(session, employee_id, earliest - 2 * shift)
    moving_id = moving.id if moving is not None else PENDING_ID
    far_future = now + dt.timedelta(days=36500)
    before = _closed_intervals(events, settings, now, far_future)
    for event in events:
        if event.id != moving_id and event.ts == ts:
            raise exc.overlap("Another event of this employee has exactly this time")
    untouched = [i for i in before if moving_id not in (i.in_event_id, i.out_event_id)]
    for interval in untouched:
        end = interval.end_utc
        inside = (
            interval.in_utc < ts < end
            if not interval.open
            else (direction == "IN" and interval.in_utc < ts <= end)
        )
        if inside:
            raise exc.overlap(
                f"{ts.isoformat()} falls inside the interval {interval.in_utc.isoformat()} - "
                f"{(interval.out_utc or end).isoformat()}"
            )
    after_events = [e for e in events if e.id != moving_id]
    after_events.append(engine.EventIn(moving_id, ts, direction, "manual"))
    after = _closed_intervals(after_events, settings, now, earliest)
    kept = {(i.in_event_id, i.out_event_id) for i in after if not i.open}
    for interval in untouched:
        if not interval.open and (interval.in_event_id, interval.out_event_id) not in kept:
            raise exc.overlap(
                "This would break the interval "
                f"{interval.in_utc.isoformat()} - {interval.end_utc.isoformat()} into overlapping ones"
            )


EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _manual_instant(value: str, zone: str, settings: Settings, now: dt.datetime) -> dt.datetime:
    ts = parse_instant(value, zone)
    if ts < EARLIEST:
        raise Unprocessable("A manual event before the year 2000 is surely a typo", code="invalid_datetime")
    if ts > now + dt.timedelta(seconds=settings.timetracker_max_clock_skew_seconds):
        raise Unprocessable("A manual event cannot be in the future", code="future_timestamp")
    return ts


async def create_manual_event(
    *, session: AsyncSession, data: ManualEventIn, actor: User, settings: Settings
) -> Event:
    now = utcnow()
    employee = await session.get(Employee, data.employee_id)
    if employee is None:
        raise exc.employee_not_found()
    if data.terminal_id is not None and await session.get(Terminal, data.terminal_id) is None:
        raise exc.terminal_not_found()
    direction = normalise_direction(data.direction, required=True)
    assert direction is not None
    ts = _manual_instant(data.timestamp, zone_name(employee.timezone, settings), settings, now)
    await lock_employee(session, employee.id)
    await check_overlap(
        session, employee_id=employee.id, ts=ts, direction=direction, settings=settings, now=now
    )
    event = Event(
        employee_id=employee.id,
        terminal_id=data.terminal_id,
        ts=ts,
        received_at=now,
        direction=direction,
        direction_source="manual",
        is_manual=True,
        comment=data.comment,
        created_by=actor.id,
    )
    session.add(event)
    await session.flush()
    await recompute_after(session, employee.id, ts, settings)
    audit(
        session,
        actor=actor,
        action="create",
        entity="event",
        entity_id=event.id,
        after=snapshot(event, EVENT_FIELDS),
        reason=data.comment,
    )
    await session.commit()
    return event


async def correct_event(
    *, session: AsyncSession, event: Event, data: EventPatch, actor: User, settings: Settings
) -> Event:
    if event.deleted_at is not None:
        raise exc.event_deleted()
    now = utcnow()
    employee = await session.get(Employee, event.employee_id)
    assert employee is not None
    before = snapshot(event, EVENT_FIELDS)
    ts = event.ts
    if data.timestamp is not None:
        ts = _manual_instant(data.timestamp, zone_name(employee.timezone, settings), settings, now)
    direction = normalise_direction(data.direction) or event.direction
    await lock_employee(session, employee.id)
    moved = ts != event.ts or direction != event.direction
    if moved:
        await check_overlap(
            session,
            employee_id=employee.id,
            ts=ts,
            direction=direction,
            settings=settings,
            now=now,
            moving=event,
        )
    since = min(ts, event.ts)
    event.ts = ts
    if data.direction is not None:
        event.direction = direction
        event.direction_source = "manual"
    if data.comment is not None:
        event.comment = data.comment.strip() or None
    await session.flush()
    if moved:
        await recompute_after(session, employee.id, since, settings)
    after = snapshot(event, EVENT_FIELDS)
    audit(
        session,
        actor=actor,
        action="update",
        entity="event",
        entity_id=event.id,
        before=before,
        after=after,
        reason=data.reason,
    )
    await session.commit()
    await session.refresh(event)
    return event


async def delete_event(
    *, session: AsyncSession, event: Event, reason: str, actor: User, settings: Settings
) -> Event:
    if event.deleted_at is not None:
        raise exc.event_deleted()
    await lock_employee(session, event.employee_id)
    before = snapshot(event, EVENT_FIELDS)
    event.deleted_at = utcnow()
    event.deleted_by = actor.id
    event.delete_reason = reason
    await session.flush()
    await recompute_after(session, event.employee_id, event.ts, settings)
    audit(
        session,
        actor=actor,
        action="delete",
        entity="event",
        entity_id=event.id,
        before=before,
        after=snapshot(event, EVENT_FIELDS),
        reason=reason,
    )
    await session.commit()
    await session.refresh(event)
    return event


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


def parse_bound(value: str, zone: str, *, upper: bool) -> dt.datetime:
    """An ISO instant (offset or Z exact, naive local) or a local date; a date as the upper
    bound means the end of that day (inclusive)."""
    from basis.core.time import local_day_bounds

    text = value.strip()
    try:
        if len(text) == 10:
            start, end = local_day_bounds(dt.date.fromisoformat(text), zone)
            return end if upper else start
        instant = parse_instant(text, zone)
        return instant + dt.timedelta(milliseconds=1) if upper else instant
    except (ValueError, OverflowError):
        raise Unprocessable(f"Not a date or ISO date-time: {value!r}", code="invalid_datetime") from None


# ---------------------------------------------------------------------------- schedules

_CELL = TypeAdapter(ScheduleCellIn)
_HOUR_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$")


def _parse_clock(value: str | None, field: str) -> dt.time | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = dt.time.fromisoformat(text if len(text) != 4 else "0" + text)
    except ValueError:
        raise Unprocessable(f"{field} must be HH:MM", code="invalid_time") from None
    return parsed.replace(microsecond=0, tzinfo=None)


def _cell_values(cell: ScheduleCellIn) -> tuple[str, dt.time | None, dt.time | None] | None:
    """(code, start, end), or None when the cell asks to delete the day."""
    start = _parse_clock(cell.start, "start")
    end = _parse_clock(cell.end, "end")
    code = cell.code.strip().lower() if cell.code is not None else None
    if code == "":
        return None
    if code is not None and (match := _HOUR_RANGE.match(code)):
        h1, m1, h2, m2 = match.groups()
        try:
            start = dt.time(int(h1) % 24, int(m1 or 0))
            end = dt.time(int(h2) % 24, int(m2 or 0))
        except ValueError:
            raise Unprocessable(f"Not a shift {cell.code!r}", code="invalid_time") from None
        code = "work"
    if code is None:
        if start is None and end is None:
            raise Unprocessable("A cell needs a code or start and end", code="invalid_cell")
        code = "work"
    if code not in SCHEDULE_CODES:
        raise Unprocessable(
            f"Unknown code {cell.code!r}: one of {', '.join(SCHEDULE_CODES)} (or empty to delete)",
            code="invalid_code",
        )
    if (start is None) != (end is None):
        raise Unprocessable("Give both start and end, or neither", code="invalid_cell")
    if code != "work":
        start = end = None
    return code, start, end


def _cell_error(index: int, cell: ScheduleCellIn, code: str, detail: Any) -> ScheduleCellError:
    return ScheduleCellError(
        index=index, employee_id=cell.employee_id, day=cell.day.isoformat(), code=code, detail=detail
    )


async def upsert_schedule_cells(
    *, session: AsyncSession, cells: Sequence[Any], actor: User
) -> tuple[int, int, list[ScheduleCellError]]:
    errors: list[ScheduleCellError] = []
    parsed: list[tuple[int, ScheduleCellIn]] = []
    for index, raw in enumerate(cells):
        try:
            parsed.append((index, _CELL.validate_python(raw)))
        except ValidationError as error:
            errors.append(
                ScheduleCellError(
                    index=index,
                    employee_id=raw.get("employee_id") if isinstance(raw, dict) else None,
                    day=str(raw.get("day")) if isinstance(raw, dict) and raw.get("day") is not None else None,
                    code="validation_error",
                    detail=error.errors(include_url=False, include_context=False, include_input=False),
                )
            )
    employee_ids = {cell.employee_id for _, cell in parsed}
    known = (
        set(await session.scalars(select(Employee.id).where(Employee.id.in_(employee_ids))))
        if employee_ids
        else set()
    )
    days = {cell.day for _, cell in parsed}
    existing: dict[tuple[int, dt.date], Schedule] = {}
    if known and days:
        rows = await session.scalars(
            select(Schedule).where(Schedule.employee_id.in_(known), Schedule.day.in_(days))
        )
        existing = {(row.employee_id, row.day): row for row in rows}
    saved = deleted = 0
    for index, cell in parsed:
        if cell.employee_id not in known:
            errors.append(_cell_error(index, cell, "employee_not_found", "Employee not found"))
            continue
        try:
            values = _cell_values(cell)
        except BasisError as error:
            errors.append(_cell_error(index, cell, error.code, error.detail))
            continue
        key = (cell.employee_id, cell.day)
        row = existing.get(key)
        if values is None:
            if row is not None:
                audit(
                    session,
                    actor=actor,
                    action="delete",
                    entity="schedule",
                    entity_id=row.id,
                    before=snapshot(row, SCHEDULE_FIELDS),
                )
                await session.delete(row)
                del existing[key]
            deleted += 1
            continue
        code, start, end = values
        label = (cell.label or "").strip() or None
        if row is None:
            row = Schedule(
                employee_id=cell.employee_id, day=cell.day, start=start, end=end, code=code, label=label
            )
            session.add(row)
            await session.flush()
            existing[key] = row
            audit(
                session,
                actor=actor,
                action="create",
                entity="schedule",
                entity_id=row.id,
                after=snapshot(row, SCHEDULE_FIELDS),
            )
        else:
            before = snapshot(row, SCHEDULE_FIELDS)
            row.start, row.end, row.code, row.label = start, end, code, label
            after = snapshot(row, SCHEDULE_FIELDS)
            if after != before:
                row.updated_at = utcnow()
                audit(
                    session,
                    actor=actor,
                    action="update",
                    entity="schedule",
                    entity_id=row.id,
                    before=before,
                    after=after,
                )
        saved += 1
    await session.commit()
    errors.sort(key=lambda e: e.index)
    return saved, deleted, errors


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


async def delete_schedule(*, session: AsyncSession, schedule: Schedule, actor: User) -> None:
    audit(
        session,
        actor=actor,
        action="delete",
        entity="schedule",
        entity_id=schedule.id,
        before=snapshot(schedule, SCHEDULE_FIELDS),
    )
    await session.delete(schedule)
    await session.commit()


# ---------------------------------------------------------------------------- terminals


async def create_terminal(
    *, session: AsyncSession, data: TerminalCreate, actor: User
) -> tuple[Terminal, str]:
    if await session.scalar(select(Terminal.id).where(Terminal.name == data.name)) is not None:
        raise exc.duplicate_terminal_name()
    key = new_terminal_key()
    terminal = Terminal(
        name=data.name,
        location=data.location or None,
        require_signature=data.require_signature,
        key_hash=hash_key(key),
        is_active=True,
        created_at=utcnow(),
    )
    await _insert_audited(
        session,
        terminal,
        actor=actor,
        entity="terminal",
        fields=TERMINAL_FIELDS,
        conflict=exc.duplicate_terminal_name(),
    )
    return terminal, key


async def update_terminal(
    *, session: AsyncSession, terminal: Terminal, data: TerminalUpdate, actor: User
) -> Terminal:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "is_active", "require_signature"):
        if required in changes and changes[required] is None:
            raise Unprocessable(f"{required} cannot be null", code="invalid_value")
    if "name" in changes and changes["name"] != terminal.name:
        taken = await session.scalar(
            select(Terminal.id).where(Terminal.name == changes["name"], Terminal.id != terminal.id)
        )
        if taken is not None:
            raise exc.duplicate_terminal_name()
    before = snapshot(terminal, TERMINAL_FIELDS)
    for name, value in changes.items():
        setattr(terminal, name, value if name != "location" else (value or None))
    after = snapshot(terminal, TERMINAL_FIELDS)
    if after != before:
        await _flush_unique(session, uid_conflict=exc.duplicate_terminal_name())
        audit(
            session,
            actor=actor,
            action="update",
            entity="terminal",
            entity_id=terminal.id,
            before=before,
            after=after,
        )
        await session.commit()
    return terminal


async def rotate_terminal_key(*, session: AsyncSession, terminal: Terminal, actor: User) -> str:
    key = new_terminal_key()
    terminal.key_hash = hash_key(key)
    terminal.key_rotated_at = utcnow()
    audit(
        session,
        actor=actor,
        action="rotate_key",
        entity="terminal",
        entity_id=terminal.id,
        before=snapshot(terminal, TERMINAL_FIELDS),
        after=snapshot(terminal, TERMINAL_FIELDS),
    )
    await session.commit()
    return key


async def list_terminals(*, session: AsyncSession, limit: int, offset: int) -> tuple[list[Terminal], int]:
    return await _page(session, Terminal, [], (Terminal.name,), limit=limit, offset=offset)


# -------------------------------------------------------------------------------- audit


async def list_audit(
    *,
    session: AsyncSession,
    entity: str | None,
    entity_id: int | None,
    action: str | None,
    actor_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEntry], int]:
    conditions = []
    if entity:
        conditions.append(AuditEntry.entity == entity)
    if entity_id is not None:
        conditions.append(AuditEntry.entity_id == entity_id)
    if action:
        conditions.append(AuditEntry.action == action)
    if actor_id is not None:
        conditions.append(AuditEntry.actor_id == actor_id)
    return await _page(session, AuditEntry, conditions, (AuditEntry.id.desc(),), limit=limit, offset=offset)


def zone_of(employee: Employee, settings: Settings) -> str:
    return zone_name(employee.timezone, settings)


def validate_zone_name(name: str) -> str:
    return get_zone(name).key
