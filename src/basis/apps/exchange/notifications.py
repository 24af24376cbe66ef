"""Stored notifications: one per participant of each new proposal."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange.models import Notification
from basis.apps.exchange.schemas import NotificationPublic, Notifications

MAX_LISTED = 200


async def of_user(session: AsyncSession, *, user_id: int) -> Notifications:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.user_id == user_id)
        .order_by(Notification.id.desc())
        .limit(MAX_LISTED)
    )
    items = [
        NotificationPublic(
            id=n.id, user_id=n.user_id, type=n.type, payload=n.payload, read=n.read, created_at=n.created_at
        )
        for n in rows
    ]
    return Notifications(notifications=items, count=len(items))
