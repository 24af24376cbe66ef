"""Demo data: a catalogue, two locations and a year of movements that add up (W1 holds)."""

from __future__ import annotations

import heapq
import random
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import catalogue
from basis.apps.warehouse.ledger import delta_of
from basis.apps.warehouse.models import Category, Location, Product, StockLevel, StockMovement
from basis.apps.warehouse.types import COUNTED_UNITS, STEP
from basis.core.time import utcnow
from basis.identity.models import User
from basis.settings import Settings

SIZES = {"small": (300, 10), "full": (5000, 20)}
"""products, movements per product (average) over the year"""
CHUNK = 5000
SKU_PREFIX = "DEMO-"

CATALOGUE = {
    "Fasteners": ["Screws", "Bolts", "Nuts", "Washers"],
    "Electrical": ["Cables", "Switches", "Sockets", "Lamps"],
    "Plumbing": ["Pipes", "Fittings", "Valves"],
    "Paint": ["Interior", "Exterior", "Primers"],
    "Tools": ["Hand tools", "Power tools", "Measuring"],
    "Timber": ["Boards", "Panels"],
}
NOUNS = [
    "screw",
    "bolt",
    "cable",
    "pipe",
    "valve",
    "board",
    "panel",
    "lamp",
    "switch",
    "paint",
    "glue",
    "tape",
]
ADJECTIVES = ["steel", "brass", "copper", "white", "black", "heavy", "light", "outdoor", "premium", "basic"]
UNIT_CHOICES = ["pcs"] * 6 + ["box", "pack", "kg", "m", "l"]


async def demo(
    *, session: AsyncSession, settings: Settings, progress: Callable[..., None], size: str, **_: Any
) -> None:
    products_count, per_product = SIZES.get(size, SIZES["small"])
    if (
        await session.scalar(select(Product.id).where(Product.sku.like(f"{SKU_PREFIX}%")).limit(1))
        is not None
    ):
        progress(0, total=1, description="warehouse: demo data already there")
        progress(1)
        return
    rng = random.Random(20260101)  # noqa: S311 - reproducible demo data, not secrets
    progress(0, total=products_count * 2 + 10, description="warehouse: catalogue")
    user_ids = await _authors(session, settings)
    main = await catalogue.ensure_default_location(session)
    store = (
        await session.execute(
            insert(Location).values(name=f"Store {secrets.token_hex(2)}", description="Demo shop floor")
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    category_ids = await _categories(session)
    progress(10)

    now = utcnow()
    start = now - timedelta(days=365)
    rows = []
    for index in range(products_count):
        unit = rng.choice(UNIT_CHOICES)
        minimum = Decimal(rng.choice([0, 5, 10, 20, 50]))
        rows.append(
            {
                "name": f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} {index + 1}",
                "description": None,
                "sku": f"{SKU_PREFIX}{index + 1:06d}",
                "qr_code": f"product:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "barcode": f"590{index + 1:09d}{rng.randint(0, 9)}",
                "category_id": rng.choice(category_ids),
                "unit": unit,
                "min_quantity": minimum,
                "max_quantity": minimum * 20 if minimum and rng.random() < 0.7 else None,
                "is_archived": False,
                "created_at": start,
                "updated_at": start,
            }
        )
    conn = await session.connection()
    # Core executemany: one round trip per chunk (the ORM's bulk path fetches ids row by row).
    for chunk in _chunks(rows):
        await conn.execute(insert(Product.__table__), chunk)
        progress(len(chunk))
    products = (
        await session.execute(
            select(Product.id, Product.unit, Product.min_quantity)
            .where(Product.sku.like(f"{SKU_PREFIX}%"))
            .order_by(Product.id)
        )
    ).all()

    progress(0, description="warehouse: a year of movements")
    streams = [
        _history(rng, p.id, p.unit, p.min_quantity, main, store, start, now, per_product, user_ids)
        for p in products
    ]
    levels: dict[tuple[int, int], Decimal] = {}
    batch: list[dict[str, Any]] = []
    done_products = 0
    # Merged in time order, so ids grow with created_at and the last id of a level is its latest.
    for row in heapq.merge(*streams, key=lambda r: (r["created_at"], r["product_id"])):
        if row is None:
            continue
        batch.append(row)
        levels[(row["product_id"], row["location_id"])] = row["balance_after"]
        if len(batch) >= CHUNK:
            await conn.execute(insert(StockMovement.__table__), batch)
            batch = []
            done = min(products_count, done_products + CHUNK // per_product)
            progress(done - done_products)
            done_products = done
    if batch:
        await conn.execute(insert(StockMovement.__table__), batch)
    progress(products_count - done_products)
    level_rows = [
        {"product_id": p, "location_id": loc, "quantity": q, "updated_at": now}
        for (p, loc), q in levels.items()
    ]
    for chunk in _chunks(level_rows):
        await conn.execute(insert(StockLevel.__table__), chunk)
    await session.execute(update(Product).where(Product.id == products[-1].id).values(is_archived=True))
    await session.commit()


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


async def _authors(session: AsyncSession, settings: Settings) -> list[int]:
    ids = list(
        await session.scalars(select(User.id).where(User.role.in_(("operator", "admin")), User.is_active))
    )
    if ids:
        return ids[:20]
    from basis.identity.passwords import hash_password

    user = User(
        email=f"storekeeper-{secrets.token_hex(3)}@example.com",
        full_name="Demo storekeeper",
        role="operator",
        password_hash=await hash_password(secrets.token_urlsafe(24), profile=settings.password_hash_profile),
    )
    session.add(user)
    await session.flush()
    return [user.id]


async def _categories(session: AsyncSession) -> list[int]:
    leaves = []
    suffix = secrets.token_hex(2)
    for top, children in CATALOGUE.items():
        parent = Category(name=f"{top} ({suffix})", description=f"Demo: {top.lower()}")
        session.add(parent)
        await session.flush()
        for child in children:
            category = Category(name=child, parent_id=parent.id)
            session.add(category)
            await session.flush()
            leaves.append(category.id)
    return leaves


def _amount(rng: random.Random, unit: str, low: int, high: int) -> Decimal:
    if unit in COUNTED_UNITS:
        return Decimal(rng.randint(low, high))
    return (Decimal(rng.randint(low * 1000, high * 1000)) / 1000).quantize(STEP)


def _history(
    rng: random.Random,
    product_id: int,
    unit: str,
    minimum: Decimal,
    main: int,
    store: int,
    start: Any,
    end: Any,
    per_product: int,
    users: list[int],
) -> Iterator[dict[str, Any]]:
    """One product's year: deliveries, issues, shelf transfers and the odd count correction."""
    count = max(2, int(rng.gauss(per_product, per_product / 4)))
    span = (end - start).total_seconds()
    times = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    balance = {main: Decimal(0), store: Decimal(0)}
    for index, when in enumerate(times):
        when = when.replace(microsecond=when.microsecond // 1000 * 1000)
        roll = rng.random()
        location, kind, reason, reference, transfer = main, "incoming", None, None, None
        if index == 0 or (balance[main] < max(minimum, Decimal(1)) and roll < 0.6):
            quantity = _amount(rng, unit, 20, 200)
            reference = f"DN-{rng.randint(10000, 99999)}"
        elif roll < 0.6:
            kind, quantity = "outgoing", min(balance[main], _amount(rng, unit, 1, 30))
            reference = f"ORD-{rng.randint(10000, 99999)}"
        elif roll < 0.85 and balance[main] > 0:
            quantity = min(balance[main], _amount(rng, unit, 1, 20))
            transfer = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            for loc, move in ((main, "transfer_out"), (store, "transfer_in")):
                balance[loc] += delta_of(move, quantity)
                yield _row(
                    product_id,
                    loc,
                    move,
                    quantity,
                    balance[loc],
                    rng.choice(users),
                    when,
                    None,
                    None,
                    transfer,
                )
            continue
        elif roll < 0.95 and balance[store] > 0:
            location, kind = store, "outgoing"
            quantity = min(balance[store], _amount(rng, unit, 1, 10))
            reason = "Sold over the counter"
        else:
            kind = "adjustment"
            quantity = Decimal(rng.choice([-1, 1, 2])) if balance[main] >= 1 else Decimal(1)
            reason = "Recount"
        if quantity == 0:
            continue
        balance[location] += delta_of(kind, quantity)
        yield _row(
            product_id,
            location,
            kind,
            quantity,
            balance[location],
            rng.choice(users),
            when,
            reason,
            reference,
            transfer,
        )


def _row(
    product_id: int,
    location_id: int,
    kind: str,
    quantity: Decimal,
    balance: Decimal,
    user_id: int,
    when: Any,
    reason: str | None,
    reference: str | None,
    transfer_id: str | None,
) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "location_id": location_id,
        "movement_type": kind,
        "quantity": quantity,
        "balance_after": balance,
        "user_id": user_id,
        "reason": reason,
        "reference": reference,
        "idempotency_key": None,
        "transfer_id": transfer_id,
        "check_id": None,
        "created_at": when,
    }
