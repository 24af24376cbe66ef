"""Reads only the original's clients ask for, in the original's shapes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker.models import Employee, Event
from basis.apps.timetracker.policy import zone_name
from basis.apps.timetracker.schemas import ManualEventListed
from basis.core.time import get_zone
from basis.identity.models import User
from basis.settings import Settings


async def recent_manual_events(
    *, session: AsyncSession, settings: Settings, limit: int
) -> list[ManualEventListed]:
    """The newest manual events (not deleted), newest first, with who entered them."""
    rows = await session.execute(
        select(Event, Employee.full_name, Employee.timezone, User.username, User.email)
        .join(Employee, Event.employee_id == Employee.id)
        .outerjoin(User, Event.created_by == User.id)
        .where(Event.is_manual.is_(True), Event.deleted_at.is_(None))
        .order_by(Event.ts.desc(), Event.id.desc())
        .limit(limit)
    )
    items = []
    for event, full_name, zone, username, email in rows:
        local = event.ts.astimezone(get_zone(zone_name(zone, settings)))
        items.append(
            ManualEventListed(
                id=event.id,
                employee_id=event.employee_id,
                employee_full_name=full_name,
                timestamp=event.ts,
                ts_local=local.strftime("%Y-%m-%d %H:%M:%S"),
                date=local.strftime("%Y-%m-%d"),
                time=local.strftime("%H:%M:%S"),
                direction=event.direction,
                terminal_id=event.terminal_id,
                comment=event.comment,
                created_by_username=username or email or "—",
                created_at=event.received_at,
            )
        )
    return items
