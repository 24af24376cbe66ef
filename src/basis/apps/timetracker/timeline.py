"""An employee's stored events as one timeline: loaded for the engine, directions re-derived
after a late, corrected or deleted event (R2), and the overlap rule for manual events and
corrections (R9). Callers hold the employee's lock first (R8), so the timeline they read stays
the one they change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker import engine
from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.models import Event
from basis.apps.timetracker.policy import max_shift
from basis.settings import Settings

EVENTS = Event.__table__
# A placeholder id for an event not yet inserted: sorts after every stored event of the same ts.
PENDING_ID = 2**62


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
