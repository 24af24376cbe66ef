"""Demo data: members in Almaty, Astana and Shymkent with wants and offers (``full``: 500 members,
5,000 listing items), then one full matching run so proposals and chains exist."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import categories, categories_data, matching
from basis.apps.exchange.models import CITIES, Listing, ListingItem, UserCity
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.time import utcnow
from basis.identity.models import User
from basis.settings import Settings

SIZES = {"small": (100, 1_000), "full": (500, 5_000)}
"""members, listing items"""
EMAIL = "exchange-demo-{}@example.com"
NAMES = ["Айгерим", "Бауыржан", "Дана", "Ерлан", "Жанар", "Куаныш", "Мадина", "Нурлан", "Сауле", "Тимур"]
THINGS = ["вещь", "набор", "комплект", "услуга", "предмет"]


def _showcase(users: list[int], listing_ids: dict[int, int], now: Any) -> list[dict[str, Any]]:
    """A pair (members 1-2) and a chain of three (members 3-5) that surely match: members of the
    first one's city each, so that a fresh demo shows both kinds of proposal."""
    plan = [
        (users[0], "offer", "bicycles", 30_000, 10), (users[0], "want", "hand_tools", 28_000, 10),
        (users[1], "offer", "hand_tools", 29_000, 10), (users[1], "want", "bicycles", 30_000, 10),
        (users[2], "offer", "furniture_appliances", 150_000, None),
        (users[2], "want", "photo_equipment", 150_000, None),
        (users[3], "offer", "clothing_footwear", 145_000, None),
        (users[3], "want", "furniture_appliances", 150_000, None),
        (users[4], "offer", "photo_equipment", 140_000, None),
        (users[4], "want", "clothing_footwear", 145_000, None),
    ]  # fmt: skip
    return [
        {
            "listing_id": listing_ids[owner],
            "user_id": owner,
            "item_type": item_type,
            "category": slug,
            "exchange_type": "temporary" if days else "permanent",
            "item_name": f"Витрина: {slug}",
            "value_tenge": value,
            "duration_days": days,
            "description": None,
            "created_at": now,
            "updated_at": now,
        }
        for owner, item_type, slug, value, days in plan
    ]


LADDER = (5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)


def _value(rng: random.Random) -> int:
    # Round prices people actually ask, give or take 8 %, to the hundred.
    return max(100, round(rng.choice(LADDER) * rng.uniform(0.92, 1.08), -2))


async def demo(
    *, session: AsyncSession, settings: Settings, progress: Callable[..., None], size: str, **_: Any
) -> None:
    members, items = SIZES.get(size, SIZES["small"])
    await categories.ensure_shipped(session)
    if await session.scalar(select(User.id).where(User.email == EMAIL.format(1))) is not None:
        progress(0, total=1, description="exchange: demo data already there")
        progress(1)
        return
    rng = random.Random(20261206)  # noqa: S311 - reproducible demo data, not secrets
    progress(0, total=members + items + 1, description="exchange: members and listings")
    from basis.identity.passwords import hash_password

    # One unknown password for every demo member: they exist to be matched, not to log in.
    password = await hash_password(secrets.token_urlsafe(24), profile=settings.password_hash_profile)
    now = utcnow()
    conn = await session.connection()
    await conn.execute(
        insert(User.__table__),  # type: ignore[arg-type]
        [
            {
                "email": EMAIL.format(n),
                "full_name": f"{rng.choice(NAMES)} {n}",
                "role": "user",
                "is_active": True,
                "password_hash": password,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(1, members + 1)
        ],
    )
    user_ids = list(
        await session.scalars(select(User.id).where(User.email.like("exchange-demo-%")).order_by(User.id))
    )
    await conn.execute(
        insert(UserCity.__table__),  # type: ignore[arg-type]
        [
            {"user_id": u, "city": c}
            for n, u in enumerate(user_ids)
            for c in (["Алматы"] if n < 5 else rng.sample(CITIES, rng.choice([1, 1, 2, 3])))
        ],
    )
    progress(members)
    listing_ids = {}
    for u in user_ids:
        listing = Listing(user_id=u, created_at=now)
        session.add(listing)
        await session.flush()
        listing_ids[u] = listing.id
    kinds = [("permanent", row[0]) for row in categories_data.PERMANENT] + [
        ("temporary", row[0]) for row in categories_data.TEMPORARY
    ]
    rows = []
    for n in range(items):
        owner = user_ids[n % len(user_ids)]
        exchange_type, slug = rng.choice(kinds)
        days = rng.randint(1, 30) if exchange_type == "temporary" else None
        rows.append(
            {
                "listing_id": listing_ids[owner],
                "user_id": owner,
                "item_type": rng.choice(("want", "offer")),
                "category": slug,
                "exchange_type": exchange_type,
                "item_name": f"{rng.choice(THINGS).title()} {n + 1}",
                "value_tenge": _value(rng) if days is None else _value(rng) // 100 * days,
                "duration_days": days,
                "description": None,
                "created_at": now,
                "updated_at": now,
            }
        )
    rows += _showcase(user_ids[:5], listing_ids, now)
    for start in range(0, len(rows), 1000):
        await conn.execute(insert(ListingItem.__table__), rows[start : start + 1000])  # type: ignore[arg-type]
        progress(len(rows[start : start + 1000]))
    await session.commit()
    progress(0, description="exchange: matching")
    await matching.rematch(session, settings=settings.app(ExchangeSettings), user_ids=None)
    progress(1)
