"""Matching figures on a real database (not collected by pytest; run by hand):

    BASIS_TEST_SLOT=3 .venv/bin/python -m tests.apps.exchange.bench_matching [postgresql] [10000]

Fills a scratch database with members (ten items each) and active listings spread over every
category with log-uniform prices, then times
a full matching run (pairs and chains, from scratch, database reads and writes included) and the
re-match of one member after one listing changes."""

from __future__ import annotations

import asyncio
import math
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, update

from basis.apps.exchange import categories, categories_data, matching
from basis.apps.exchange.models import CITIES, Listing, ListingItem, UserCity
from basis.apps.exchange.settings import ExchangeSettings
from basis.core import migrations
from basis.core.apps import enabled_specs
from basis.core.db import Database
from basis.core.time import utcnow
from basis.identity.models import User
from tests.support import backends as tb

TYPES = ("want", "offer")


async def fill(db: Database, listings: int) -> None:
    rng = random.Random(7)
    members = listings // 10
    now = utcnow()
    async with db.sessionmaker() as session:
        await categories.ensure_shipped(session)
        conn = await session.connection()
        await conn.execute(
            insert(User.__table__),  # type: ignore[arg-type]
            [
                {"email": f"bench{n}@example.com", "role": "user", "is_active": True, "password_hash": "x",
                 "created_at": now, "updated_at": now}
                for n in range(members)
            ],
        )  # fmt: skip
        users = list(await session.scalars(select(User.id).order_by(User.id)))
        await conn.execute(
            insert(UserCity.__table__),  # type: ignore[arg-type]
            [{"user_id": u, "city": c} for u in users for c in rng.sample(CITIES, rng.choice([1, 1, 2, 3]))],
        )
        await conn.execute(insert(Listing.__table__), [{"user_id": u, "created_at": now} for u in users])  # type: ignore[arg-type]
        listing_of = dict((await session.execute(select(Listing.user_id, Listing.id))).all())
        kinds = [("permanent", r[0]) for r in categories_data.PERMANENT] + [
            ("temporary", r[0]) for r in categories_data.TEMPORARY
        ]
        rows = []
        for n in range(listings):
            owner = users[n % len(users)]
            kind, slug = rng.choice(kinds)
            days = rng.randint(1, 30) if kind == "temporary" else None
            # Log-uniform 5,000 .. 500,000 tenge: prices spread as on a real marketplace.
            value = round(math.exp(rng.uniform(math.log(5_000), math.log(500_000))), -2)
            rows.append(
                {"listing_id": listing_of[owner], "user_id": owner, "item_type": rng.choice(TYPES),
                 "category": slug, "exchange_type": kind, "item_name": f"item {n}",
                 "value_tenge": value if days is None else value // 100 * days, "duration_days": days,
                 "created_at": now, "updated_at": now}
            )  # fmt: skip
        for start in range(0, len(rows), 2000):
            await conn.execute(insert(ListingItem.__table__), rows[start : start + 2000])  # type: ignore[arg-type]
        await session.commit()


def prepare(backend: str, listings: int) -> str:
    database = tb.create_database(backend, f"bench{listings}", Path(tempfile.mkdtemp()))
    migrations.upgrade(database.url, enabled_specs(None))
    return database.url


async def run(backend: str, url: str, listings: int) -> None:
    db = Database(url, pool_size=2)
    settings = ExchangeSettings()
    try:
        await fill(db, listings)
        async with db.sessionmaker() as session:
            started = time.perf_counter()
            outcome = await matching.rematch(session, settings=settings, user_ids=None)
            full = time.perf_counter() - started
            counts = await matching.counts(session, user_id=None)
            item = await session.scalar(select(ListingItem).where(ListingItem.item_type == "offer").limit(1))
            assert item is not None
            await session.execute(
                update(ListingItem)
                .where(ListingItem.id == item.id)
                .values(value_tenge=item.value_tenge + 100)
            )
            await session.commit()
            started = time.perf_counter()
            await matching.rematch(session, settings=settings, user_ids=[item.user_id])
            one = time.perf_counter() - started
        print(
            f"{backend}: {listings} active listings; full matching {full:.2f} s "
            f"({len(outcome.created)} proposals stored: {counts.bilateral_matches} pairs, "
            f"{counts.exchange_chains} chains); re-match after one change {one * 1000:.0f} ms"
        )
    finally:
        await db.dispose()


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "postgresql"
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    asyncio.run(run(which, prepare(which, size), size))
