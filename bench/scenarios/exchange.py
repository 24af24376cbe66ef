"""Exchange: matching a market of 10,000 active listings from scratch (pairs and chains), and
re-matching one member after one of their listings changes.

Both run the matching service in the bench process against the bench database, as
``basis exchange match`` and the background job do: one Python thread (one core), database
reads and writes included. Chat fan-out over two server processes needs Redis and is measured by
``bench/exchange_chat.py``.
"""

from __future__ import annotations

import math
import random
from typing import Any

from bench.scenarios import BenchContext, Timed

APPS: list[str] = ["exchange"]

LISTINGS = 10_000
ITEMS_PER_MEMBER = 10


async def _fill(ctx: BenchContext, listings: int, *, prefix: str, one_city: bool = False) -> None:
    """Members with ten active items each, over every category, log-uniform prices of
    5,000-500,000 tenge, in 1-3 of the three cities (``one_city``: all in Almaty)."""
    from sqlalchemy import insert, select

    from basis.apps.exchange import categories, categories_data
    from basis.apps.exchange.models import CITIES, Listing, ListingItem, UserCity
    from basis.core.time import utcnow
    from basis.identity.models import User

    rng = random.Random(7)
    now = utcnow()
    kinds = [("permanent", r[0]) for r in categories_data.PERMANENT]
    kinds += [("temporary", r[0]) for r in categories_data.TEMPORARY]
    async with ctx.session() as session:
        await categories.ensure_shipped(session)
        conn = await session.connection()
        people = [
            {"email": f"{prefix}{n}@example.com", "role": "user", "is_active": True,
             "password_hash": "x", "created_at": now, "updated_at": now}
            for n in range(listings // ITEMS_PER_MEMBER)
        ]  # fmt: skip
        await conn.execute(insert(User.__table__), people)  # type: ignore[arg-type]
        users = list(
            await session.scalars(select(User.id).where(User.email.like(f"{prefix}%")).order_by(User.id))
        )

        def where() -> list[str]:
            return [CITIES[0]] if one_city else rng.sample(CITIES, rng.choice([1, 1, 2, 3]))

        cities = [{"user_id": u, "city": c} for u in users for c in where()]
        await conn.execute(insert(UserCity.__table__), cities)  # type: ignore[arg-type]
        await conn.execute(insert(Listing.__table__), [{"user_id": u, "created_at": now} for u in users])  # type: ignore[arg-type]
        listing_of = dict(
            (
                await session.execute(select(Listing.user_id, Listing.id).where(Listing.user_id.in_(users)))
            ).all()
        )
        rows = []
        for n in range(listings):
            owner = users[n % len(users)]
            kind, slug = rng.choice(kinds)
            days = rng.randint(1, 30) if kind == "temporary" else None
            value = round(math.exp(rng.uniform(math.log(5_000), math.log(500_000))), -2)
            side = rng.choice(("want", "offer"))
            rows.append(
                {"listing_id": listing_of[owner], "user_id": owner, "item_type": side,
                 "category": slug, "exchange_type": kind, "item_name": f"item {n}",
                 "value_tenge": value if days is None else value // 100 * days, "duration_days": days,
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
        for start in range(0, len(rows), 2000):
            await conn.execute(insert(ListingItem.__table__), rows[start : start + 2000])  # type: ignore[arg-type]
        await session.commit()
    await ctx.analyze("users", "exchange_user_cities", "listings", "listing_items")


async def _market(ctx: BenchContext) -> dict[str, Any]:
    if "exchange_market" not in ctx.state:
        await _fill(ctx, LISTINGS, prefix="exchange-bench")
        ctx.state["exchange_market"] = True
    return {}


async def _full(ctx: BenchContext, data: dict[str, Any]) -> None:
    from basis.apps.exchange import matching
    from basis.apps.exchange.settings import ExchangeSettings

    async with ctx.session() as session:
        outcome = await matching.rematch(session, settings=ExchangeSettings(), user_ids=None)
        found = await matching.counts(session, user_id=None)
    if not outcome.created or found.exchange_chains == 0:
        raise RuntimeError(f"full matching proposed {found.bilateral_matches} pairs and no chain")
    ctx.state["exchange_found"] = found
    print(
        f"  exchange: {len(outcome.created)} proposals stored ({found.bilateral_matches} pairs, "
        f"{found.exchange_chains} chains; engine bound reached: {outcome.truncated}); seconds: "
        + ", ".join(f"{k} {v:.2f}" for k, v in outcome.seconds.items()),
        flush=True,
    )


async def _matched(ctx: BenchContext) -> dict[str, Any]:
    """The market after a full run, and the offers of members who have proposals."""
    from sqlalchemy import select

    from basis.apps.exchange.models import ListingItem, Participant

    await _market(ctx)
    if "exchange_found" not in ctx.state:
        await _full(ctx, {})
    async with ctx.session() as session:
        rows = await session.execute(
            select(ListingItem.id, ListingItem.user_id, ListingItem.value_tenge)
            .join(Participant, Participant.offer_item_id == ListingItem.id)
            .distinct()
            .order_by(ListingItem.id)
            .limit(20)
        )
        offers = [tuple(r) for r in rows]
    return {"offers": offers, "turn": [0]}


async def _one_change(ctx: BenchContext, data: dict[str, Any]) -> None:
    """One offer's value moves by 100 tenge (back and forth), then its owner is re-matched."""
    from sqlalchemy import update

    from basis.apps.exchange import matching
    from basis.apps.exchange.models import ListingItem
    from basis.apps.exchange.settings import ExchangeSettings

    turn = data["turn"][0]
    data["turn"][0] += 1
    item_id, owner, value = data["offers"][turn % len(data["offers"])]
    shift = 100 if (turn // len(data["offers"])) % 2 == 0 else 0
    async with ctx.session() as session:
        await session.execute(
            update(ListingItem).where(ListingItem.id == item_id).values(value_tenge=value + shift)
        )
        await session.commit()
        await matching.rematch(session, settings=ExchangeSettings(), user_ids=[owner])


async def _dense(ctx: BenchContext) -> dict[str, Any]:
    """A denser market: the spread market archived, 10,000 new listings all in one city."""
    from sqlalchemy import delete, update

    from basis.apps.exchange.models import Exchange, ListingItem, MatchingRun, Notification
    from basis.core.time import utcnow

    async with ctx.session() as session:
        await session.execute(
            update(ListingItem).where(ListingItem.archived_at.is_(None)).values(archived_at=utcnow())
        )
        for table in (Notification, Exchange, MatchingRun):
            await session.execute(delete(table))
        await session.commit()
    await _fill(ctx, LISTINGS, prefix="exchange-dense", one_city=True)
    return {}


SCENARIOS: list[Timed] = [
    Timed(
        "exchange: full matching, 10,000 active listings",
        call=_full,
        setup=_market,
        repeat=1,
        warmup=0,
        note="1,000 members x 10 items over the 60 categories, 1-3 cities each; pairs and chains "
        "from scratch, proposals, participants, events and notifications stored; one run",
    ),
    Timed(
        "exchange: re-match after one listing change",
        call=_one_change,
        setup=_matched,
        repeat=10,
        warmup=1,
        note="one offer's value changes (update committed), then its owner is re-matched: "
        "stale proposals cancelled, new ones stored, on the matched 10,000-listing market",
    ),
    Timed(
        "exchange: full matching, dense market (one city)",
        call=_full,
        setup=_dense,
        repeat=1,
        warmup=0,
        note="1,000 members x 10 items, all in Almaty: every member can meet every other, so "
        "about 1,250 proposals (mostly long chains); one run",
    ),
]
