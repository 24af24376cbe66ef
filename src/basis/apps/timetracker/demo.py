"""Demo data: departments, employees, three terminals, day and night schedules and two months
of scans as real doors produce them (late arrivals, forgotten check-outs, double taps, one
terminal that uploads its buffer hours late)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker import engine
from basis.apps.timetracker.keys import hash_key, new_terminal_key
from basis.apps.timetracker.models import AuditEntry, Employee, Event, Schedule, Terminal
from basis.apps.timetracker.policy import max_shift
from basis.apps.timetracker.service import audit
from basis.apps.timetracker.settings import TimetrackerSettings
from basis.core.time import local_date, utcnow, wall_clock_to_utc
from basis.settings import Settings

Progress = Callable[..., None]

DEPARTMENTS = ("Production", "Warehouse", "Logistics", "Office", "Maintenance", "Security")
NIGHT_DEPARTMENTS = ("Security", "Maintenance", "Production")
POSITIONS = {
    "Production": ("Operator", "Line lead", "Quality inspector"),
    "Warehouse": ("Picker", "Forklift driver", "Storekeeper"),
    "Logistics": ("Dispatcher", "Driver", "Planner"),
    "Office": ("Accountant", "HR specialist", "Office manager"),
    "Maintenance": ("Electrician", "Mechanic", "Technician"),
    "Security": ("Guard", "Shift supervisor"),
}
FIRST_NAMES = (
    "Anna",
    "Piotr",
    "Katarzyna",
    "Tomasz",
    "Magdalena",
    "Paweł",
    "Agnieszka",
    "Michał",
    "Joanna",
    "Krzysztof",
    "Olena",
    "Andrii",
    "Iryna",
    "Marek",
    "Ewa",
    "Jakub",
    "Zofia",
    "Wojciech",
    "Natalia",
    "Łukasz",
)
LAST_NAMES = (
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Wójcik",
    "Kamiński",
    "Lewandowski",
    "Zieliński",
    "Szymański",
    "Woźniak",
    "Dąbrowski",
    "Kozłowski",
    "Jankowski",
    "Mazur",
    "Kwiatkowski",
    "Krawczyk",
    "Shevchenko",
    "Bondarenko",
    "Kovalenko",
    "Piotrowski",
    "Grabowski",
)
TERMINALS = (
    ("Main entrance", "Building A, ground floor"),
    ("Warehouse gate", "Warehouse, gate 2"),
    ("Night door", "Building B, staff door (flaky Wi-Fi): uploads its buffer late"),
)
SIZES = {"small": 20, "full": 200}
DOUBLE_TAP_RATE = 0.02
FORGOTTEN_OUT_RATE = 0.012
SICK_RATE = 0.015
CHUNK = 5000


def _period(today: dt.date) -> tuple[dt.date, dt.date]:
    first_this_month = today.replace(day=1)
    start = (first_this_month - dt.timedelta(days=1)).replace(day=1)
    return start, today - dt.timedelta(days=1)


def _shift_for(index: int, department: str, day: dt.date) -> tuple[str, dt.time | None, dt.time | None]:
    if department in NIGHT_DEPARTMENTS and index % 4 == 0:
        # Night crew: four nights on, three off, rotating by employee.
        on = (day.toordinal() + index) % 7 < 4
        return ("work", dt.time(22), dt.time(6)) if on else ("off", None, None)
    if day.weekday() >= 5:
        return "off", None, None
    if department == "Office":
        return "work", dt.time(9), dt.time(17)
    return "work", dt.time(7 if index % 3 == 0 else 8), dt.time(15 if index % 3 == 0 else 16)


MARKER = {"action": "demo_data", "entity": "demo"}
"""The audit entry the demo writes with its data, in the same transaction: the one sign that
the demo data is there (a terminal called "Main entrance" may well be a real one)."""


async def _already_loaded(session: AsyncSession) -> bool:
    marked = await session.scalar(
        select(AuditEntry.id)
        .where(AuditEntry.action == MARKER["action"], AuditEntry.entity == MARKER["entity"])
        .limit(1)
    )
    if marked is not None:
        return True
    # Loaded before the demo wrote its marker: all three demo terminals, where the demo put them.
    rows = (await session.execute(select(Terminal.name, Terminal.location))).all()
    return set(TERMINALS) <= {(name, location) for name, location in rows}


async def _free_names(session: AsyncSession) -> list[str]:
    """The demo terminals' names, with " (demo)" where a real terminal has the name already."""
    taken = set(await session.scalars(select(Terminal.name)))
    names = []
    for name, _ in TERMINALS:
        candidate, number = name, 1
        while candidate in taken:
            candidate = f"{name} (demo)" if number == 1 else f"{name} (demo {number})"
            number += 1
        taken.add(candidate)
        names.append(candidate)
    return names


async def _free_uids(session: AsyncSession, count: int) -> list[str]:
    """Card UIDs for the demo employees that no real employee carries."""
    candidates = [f"04D{i:05X}A1B2" for i in range(2 * count)]
    taken = set(await session.scalars(select(Employee.nfc_uid).where(Employee.nfc_uid.in_(candidates))))
    free = [uid for uid in candidates if uid not in taken]
    index = len(candidates)
    while len(free) < count:
        uid = f"04D{index:05X}A1B2"
        if await session.scalar(select(Employee.id).where(Employee.nfc_uid == uid)) is None:
            free.append(uid)
        index += 1
    return free[:count]


async def demo(*, session: AsyncSession, settings: Settings, progress: Progress, size: str = "full") -> None:
    count = SIZES.get(size, SIZES["full"])
    if await _already_loaded(session):
        progress(1, total=1, description="TimeTracker demo data already present")
        return
    rng = random.Random(20260301)  # noqa: S311 - reproducible demo data, not a secret
    now = utcnow()
    zone = settings.timezone
    today = local_date(now, zone)
    start, end = _period(today)
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    progress(0, total=count + 3, description="TimeTracker: terminals and employees")

    terminal_ids: list[int] = []
    uids = await _free_uids(session, count)
    for name, (usual, location) in zip(await _free_names(session), TERMINALS, strict=True):
        terminal = Terminal(
            name=name,
            location=location,
            key_hash=hash_key(new_terminal_key()),
            is_active=True,
            require_signature=False,
            created_at=now,
            last_seen_at=now - (dt.timedelta(hours=5) if usual == "Night door" else dt.timedelta(seconds=30)),
        )
        session.add(terminal)
        await session.flush()
        terminal_ids.append(terminal.id)
    employees: list[tuple[int, str]] = []
    for i in range(count):
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        employee = Employee(
            full_name=f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i * 7) % len(LAST_NAMES)]}",
            nfc_uid=uids[i],
            position=rng.choice(POSITIONS[department]),
            department=department,
            is_active=i % 97 != 96,
            key_status="none",
            created_at=now,
            updated_at=now,
        )
        session.add(employee)
        employees.append((0, department))
        await session.flush()
        employees[-1] = (employee.id, department)
    progress(1, description="TimeTracker: schedules and scans")

    schedule_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    duplicates = 0
    shift = max_shift(settings)
    cooldown = dt.timedelta(seconds=settings.app(TimetrackerSettings).terminal_scan_cooldown_seconds)
    for index, (employee_id, department) in enumerate(employees):
        taps: list[tuple[dt.datetime, int, str | None]] = []
        for day in days:
            code, begin, finish = _shift_for(index, department, day)
            if code == "work" and rng.random() < SICK_RATE:
                code, begin, finish = "sick", None, None
            schedule_rows.append(
                {
                    "employee_id": employee_id,
                    "day": day,
                    "start": begin,
                    "end": finish,
                    "code": code,
                    "label": None,
                    "updated_at": now,
                }
            )
            if code != "work" or begin is None or finish is None:
                continue
            night = finish <= begin
            terminal_index = 2 if night else (0 if department in ("Office", "Production") else 1)
            terminal_id = terminal_ids[terminal_index]
            late = rng.random() < 0.08
            arrive = wall_clock_to_utc(day, begin, zone) + dt.timedelta(
                minutes=rng.randint(12, 35) if late else rng.randint(-12, 4), seconds=rng.randint(0, 59)
            )
            leave_day = day + dt.timedelta(days=1) if night else day
            leave = wall_clock_to_utc(leave_day, finish, zone) + dt.timedelta(
                minutes=rng.randint(-8, 25), seconds=rng.randint(0, 59)
            )
            device = terminal_index == 0
            taps.append((arrive, terminal_id, "IN" if device else None))
            if rng.random() < DOUBLE_TAP_RATE:
                taps.append(
                    (arrive + dt.timedelta(seconds=rng.randint(1, 3)), terminal_id, "IN" if device else None)
                )
            if rng.random() >= FORGOTTEN_OUT_RATE and leave < now:
                taps.append((leave, terminal_id, "OUT" if device else None))
        accepted: list[tuple[dt.datetime, int, str | None]] = []
        for tap in sorted(taps):
            if accepted and tap[0] - accepted[-1][0] < cooldown:
                duplicates += 1  # R4: the terminal's double tap is answered "duplicate", not stored
                continue
            accepted.append(tap)
        stored = [
            engine.EventIn(i, tap[0], tap[2], "device" if tap[2] else "derived")
            for i, tap in enumerate(accepted)
        ]
        directions = dict(engine.derive_directions(stored, shift))
        for i, (ts, terminal_id, direction) in enumerate(accepted):
            offline = terminal_id == terminal_ids[2]
            event_rows.append(
                {
                    "employee_id": employee_id,
                    "terminal_id": terminal_id,
                    "ts": ts,
                    "received_at": ts
                    + (
                        dt.timedelta(minutes=rng.randint(60, 360))
                        if offline
                        else dt.timedelta(milliseconds=rng.randint(40, 400))
                    ),
                    "direction": directions[i],
                    "direction_source": "device" if direction else "derived",
                    "is_manual": False,
                    "client_event_id": f"demo-{employee_id}-{i}" if offline else None,
                    "request_hash": None,
                    "comment": None,
                    "created_by": None,
                    "deleted_at": None,
                    "deleted_by": None,
                    "delete_reason": None,
                }
            )
        if len(event_rows) >= CHUNK:
            await session.execute(insert(Event.__table__), event_rows)
            event_rows = []
        progress(1)
    if event_rows:
        await session.execute(insert(Event.__table__), event_rows)
    for i in range(0, len(schedule_rows), CHUNK):
        await session.execute(insert(Schedule.__table__), schedule_rows[i : i + CHUNK])
    audit(
        session,
        actor=None,
        entity_id=None,
        after={"size": size, "employees": count, "terminal_ids": terminal_ids, "days": len(days)},
        reason="basis demo",
        **MARKER,
    )
    await session.commit()
    progress(
        1, description=f"TimeTracker: {count} employees, {len(days)} days, {duplicates} double taps refused"
    )
