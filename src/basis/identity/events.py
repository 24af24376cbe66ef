"""The auth event trail: what happened (login, refresh, reset, role change, ...), where the call
came from, and the admin's queries over it. An event is added to the caller's session and written
with the caller's commit, so it never records a change that did not happen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.identity.models import AuthEvent

EVENT_TYPES = (
    "register",
    "login_success",
    "login_failure",
    "login_rate_limited",
    "refresh",
    "refresh_reuse_detected",
    "logout",
    "logout_all",
    "password_changed",
    "password_reset_requested",
    "password_reset_completed",
    "role_changed",
    "user_deactivated",
    "session_revoked",
)


@dataclass(frozen=True, slots=True)
class Meta:
    """Where a call comes from, for sessions and the audit trail."""

    ip: str | None = None
    user_agent: str | None = None
    device: str | None = None

    def clipped(self) -> Meta:
        return Meta(
            ip=(self.ip or None) and self.ip[:64],
            user_agent=(self.user_agent or None) and self.user_agent[:500],
            device=(self.device or None) and self.device[:100],
        )


def audit(
    session: AsyncSession,
    event_type: str,
    *,
    success: bool,
    meta: Meta,
    user_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Adds an event to the session; it is written with the caller's commit."""
    assert event_type in EVENT_TYPES, event_type
    meta = meta.clipped()
    session.add(
        AuthEvent(
            user_id=user_id,
            event_type=event_type,
            success=success,
            ip=meta.ip,
            user_agent=meta.user_agent,
            details=details or None,
        )
    )


def _event_filters(
    *,
    user_id: int | None = None,
    event_type: str | None = None,
    success: bool | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[Any]:
    conditions: list[Any] = []
    if user_id is not None:
        conditions.append(AuthEvent.user_id == user_id)
    if event_type is not None:
        conditions.append(AuthEvent.event_type == event_type)
    if success is not None:
        conditions.append(AuthEvent.success.is_(success))
    if since is not None:
        conditions.append(AuthEvent.created_at >= since)
    if until is not None:
        conditions.append(AuthEvent.created_at < until)
    return conditions


async def list_events(
    *, session: AsyncSession, limit: int = 50, offset: int = 0, **filters: Any
) -> tuple[list[AuthEvent], int]:
    conditions = _event_filters(**filters)
    total = (await session.execute(select(func.count(AuthEvent.id)).where(*conditions))).scalar_one()
    stmt = (
        select(AuthEvent)
        .where(*conditions)
        .order_by(AuthEvent.created_at.desc(), AuthEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).scalars()), int(total)


async def count_events(
    *, session: AsyncSession, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict[str, int]:
    conditions = _event_filters(since=since, until=until)
    stmt = (
        select(AuthEvent.event_type, func.count(AuthEvent.id))
        .where(*conditions)
        .group_by(AuthEvent.event_type)
    )
    return {event_type: int(count) for event_type, count in (await session.execute(stmt)).all()}
