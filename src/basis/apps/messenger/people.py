"""People as the messenger shows them: the core account plus presence."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger.presence import Presence
from basis.apps.messenger.schemas import UserOut
from basis.identity.models import User

MAX_RESULTS = 50


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def find(session: AsyncSession, *, query: str) -> list[User]:
    """Active users whose username, e-mail or name contains ``query``, case-insensitively."""
    stmt = select(User).where(User.is_active.is_(True))
    needle = query.strip().lower()
    if needle:
        pattern = f"%{_escape_like(needle)}%"
        stmt = stmt.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (User.username, User.email, User.full_name)
                )
            )
        )
    return list((await session.scalars(stmt.order_by(User.id).limit(MAX_RESULTS))).all())


async def users_out(presence: Presence, users: Sequence[User]) -> list[UserOut]:
    online = await presence.online(u.id for u in users)
    return [
        UserOut(
            id=u.id,
            email=u.email,
            username=u.username,
            full_name=u.full_name,
            created_at=u.created_at,
            online=u.id in online,
        )
        for u in users
    ]


async def user_out(presence: Presence, user: User) -> UserOut:
    return (await users_out(presence, [user]))[0]
