"""TimeTracker's rules for staff work: employees, manual events and corrections, schedules,
terminals, phone keys and the audit log. Scan ingestion lives in ``terminal.py``; reports in
``stats.py``; input parsing in ``parsing.py``, key material in ``keys.py``, the settings as
engine values in ``policy.py``, an employee's event timeline in ``timeline.py`` and the lists in
``queries.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.keys import hash_key, key_fingerprint, new_terminal_key
from basis.apps.timetracker.models import AuditEntry, Employee, Event, Schedule, Terminal
from basis.apps.timetracker.parsing import (
    cell_error,
    cell_values,
    check_zone,
    manual_instant,
    normalise_direction,
    normalise_uid,
    parse_cells,
)
from basis.apps.timetracker.policy import zone_name
from basis.apps.timetracker.queries import page_of
from basis.apps.timetracker.schemas import (
    EmployeeCreate,
    EmployeeUpdate,
    EventPatch,
    ManualEventIn,
    ScheduleCellIn,
    TerminalCreate,
    TerminalUpdate,
)
from basis.apps.timetracker.timeline import check_overlap, recompute_after
from basis.core.audit import AuditTrail, snapshot
from basis.core.db import lock_row
from basis.core.errors import BasisError, Unprocessable
from basis.core.time import utcnow
from basis.identity.models import User
from basis.settings import Settings

EMPLOYEES = Employee.__table__


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
    zone = check_zone(data.timezone)
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
        changes["timezone"] = check_zone(changes["timezone"])
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


# ------------------------------------------------------------------------- phone keys


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
    ts = manual_instant(data.timestamp, zone_name(employee.timezone, settings), settings, now)
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
        ts = manual_instant(data.timestamp, zone_name(employee.timezone, settings), settings, now)
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


# ---------------------------------------------------------------------------- schedules


async def _checked_cells(
    session: AsyncSession, cells: Sequence[Any]
) -> list[tuple[ScheduleCellIn, tuple[str, dt.time | None, dt.time | None] | None]]:
    """Every cell as (cell, its values or None to delete), or 422 ``invalid_schedule`` naming
    each refused cell: a batch is saved whole or not at all."""
    parsed, errors = parse_cells(cells)
    employee_ids = {cell.employee_id for _, cell in parsed}
    known = (
        set(await session.scalars(select(Employee.id).where(Employee.id.in_(employee_ids))))
        if employee_ids
        else set()
    )
    checked = []
    for index, cell in parsed:
        if cell.employee_id not in known:
            errors.append(cell_error(index, cell, "employee_not_found", "Employee not found", "employee_id"))
            continue
        try:
            checked.append((cell, cell_values(cell)))
        except BasisError as error:
            errors.append(cell_error(index, cell, error.code, error.detail, error.extra.get("field")))
    if errors:
        raise exc.invalid_schedule(sorted(errors, key=lambda e: e.index))
    return checked


async def upsert_schedule_cells(
    *, session: AsyncSession, cells: Sequence[Any], actor: User
) -> tuple[int, int]:
    """(saved, deleted) cells; nothing at all when one cell is refused (422)."""
    checked = await _checked_cells(session, cells)
    days = {cell.day for cell, _ in checked}
    employee_ids = {cell.employee_id for cell, _ in checked}
    existing: dict[tuple[int, dt.date], Schedule] = {}
    if employee_ids and days:
        rows = await session.scalars(
            select(Schedule).where(Schedule.employee_id.in_(employee_ids), Schedule.day.in_(days))
        )
        existing = {(row.employee_id, row.day): row for row in rows}
    saved = deleted = 0
    for cell, values in checked:
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
    return saved, deleted


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
    return await page_of(session, AuditEntry, conditions, (AuditEntry.id.desc(),), limit=limit, offset=offset)
