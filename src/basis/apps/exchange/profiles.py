"""Members as the exchange sees them: their cities and their public profile."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.models import CITIES, UserCity
from basis.apps.exchange.schemas import ProfilePublic, RatingSummary
from basis.identity.models import User


def ordered(cities: Iterable[str]) -> list[str]:
    found = set(cities)
    return [c for c in CITIES if c in found]


async def existing_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise exc.user_not_found()
    return user


async def cities_of(session: AsyncSession, user_id: int) -> list[str]:
    return ordered(await session.scalars(select(UserCity.city).where(UserCity.user_id == user_id)))


async def set_cities(session: AsyncSession, *, user_id: int, cities: Sequence[str]) -> list[str]:
    """Replaces the member's cities (flushes; the caller commits)."""
    await session.execute(delete(UserCity).where(UserCity.user_id == user_id))
    session.add_all(UserCity(user_id=user_id, city=city) for city in dict.fromkeys(cities))
    await session.flush()
    return ordered(cities)


async def public_profile(session: AsyncSession, *, user_id: int, rating: RatingSummary) -> ProfilePublic:
    user = await existing_user(session, user_id)
    return ProfilePublic(
        id=user.id,
        user_id=user.id,
        full_name=user.full_name,
        locations=await cities_of(session, user_id),
        rating=rating,
    )
