"""The stock ledger (W1-W4): movements and their level changes in one transaction.

Serialisation point: the product row, locked (``SELECT ... FOR NO KEY UPDATE`` on PostgreSQL,
``FOR UPDATE`` on MariaDB; SQLite's ``BEGIN IMMEDIATE`` already admits one writer) before its
levels are read. Every change of a product's stock takes that lock first, so
- a level is read, checked against zero and written with no other writer in between, however
  many server processes run (W2);
- the product's total across locations is exact too, so a crossing below the minimum is seen by
  exactly one movement (W7);
- a level row can be created on demand without racing another insert of the same row;
- a transfer's two levels need no lock ordering (one lock), and several products (an inventory
  check) are locked in id order, so transactions never wait on each other in a cycle.
The level is read after the lock in a statement of its own: under READ COMMITTED that statement
sees what the previous lock holder committed.
A movement costs four statements: lock, read levels, write the level, insert the entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, insert, select, true, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse.models import Location, Product, StockLevel, StockMovement
from basis.apps.warehouse.types import fits_unit
from basis.core.db import lock_row, lock_rows, retry_transient
from basis.core.logging import get_logger
from basis.core.time import utcnow

PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
LEVELS: Table = StockLevel.__table__  # type: ignore[assignment]
MOVEMENTS: Table = StockMovement.__table__  # type: ignore[assignment]
LOCATIONS: Table = Location.__table__  # type: ignore[assignment]

# Locked with ``key_share``: movements and levels referring to a locked product may still be
# inserted by others (PostgreSQL's FOR NO KEY UPDATE); changes of its stock wait.
LOCKED_COLUMNS = (PRODUCTS.c.unit, PRODUCTS.c.is_archived, PRODUCTS.c.min_quantity)
ZERO = Decimal(0)
T = TypeVar("T")
log = get_logger("basis.warehouse")
SIGNS = {"incoming": 1, "transfer_in": 1, "outgoing": -1, "transfer_out": -1, "adjustment": 1}


LEVEL_UPDATE = (
    update(LEVELS)
    .where(LEVELS.c.product_id == bindparam("p"), LEVELS.c.location_id == bindparam("loc"))
    .values(quantity=bindparam("q"), updated_at=bindparam("now"))
)


_new_level = mysql_insert(LEVELS)
_LEVEL_UPSERT = _new_level.on_duplicate_key_update(
    quantity=_new_level.inserted.quantity, updated_at=_new_level.inserted.updated_at
)
"""MariaDB: levels written or inserted, with their rows as parameters (one compiled statement)."""


def log_retry(attempt: int, error: DBAPIError) -> None:
    log.info("warehouse_retry_transaction", attempt=attempt, error=type(error.orig).__name__)


async def retrying(session: AsyncSession, work: Callable[[], Awaitable[T]]) -> T:
    """Run a write transaction again after a deadlock or a lock timeout (the database chose a victim)."""
    return await retry_transient(work, before_retry=session.rollback, on_retry=log_retry)


def delta_of(movement_type: str, quantity: Decimal) -> Decimal:
    """The change a movement makes to its level (an adjustment's quantity carries its sign)."""
    return quantity * SIGNS[movement_type]


@dataclass(frozen=True, slots=True)
class LockedProduct:
    id: int
    unit: str
    is_archived: bool
    min_quantity: Decimal


@dataclass(frozen=True, slots=True)
class Posting:
    """One ledger entry to write."""

    product_id: int
    location_id: int
    movement_type: str
    quantity: Decimal
    reason: str | None = None
    reference: str | None = None
    check_id: int | None = None

    @property
    def delta(self) -> Decimal:
        return delta_of(self.movement_type, self.quantity)


@dataclass(slots=True)
class Posted:
    rows: list[dict[str, Any]] = field(default_factory=list)
    """The written movements, as their columns (with ``id``), in the order given."""
    crossings: list[tuple[int, int]] = field(default_factory=list)
    """(product id, movement id) of every product whose total fell below its minimum."""


def _location_ref(location_id: int | None) -> Any:
    condition = LOCATIONS.c.id == location_id if location_id is not None else LOCATIONS.c.is_default == true()
    return select(LOCATIONS.c.id).where(condition).limit(1).scalar_subquery()


async def lock_product(
    session: AsyncSession, product_id: int, locations: Sequence[int | None] = ()
) -> tuple[LockedProduct, list[int | None]]:
    """Lock one product and resolve ``locations`` (``None``: the default) in the same statement.

    A resolved location is ``None`` when it does not exist.
    """
    refs = [_location_ref(loc).label(f"loc{i}") for i, loc in enumerate(locations)]
    row = await lock_row(session, PRODUCTS, product_id, columns=[*LOCKED_COLUMNS, *refs], key_share=True)
    if row is None:
        raise exc.product_not_found(product_id)
    product = LockedProduct(row.id, row.unit, row.is_archived, row.min_quantity)
    return product, [row[4 + i] for i in range(len(locations))]


async def lock_products(session: AsyncSession, product_ids: Iterable[int]) -> dict[int, LockedProduct]:
    rows = await lock_rows(session, PRODUCTS, product_ids, columns=LOCKED_COLUMNS, key_share=True)
    return {r.id: LockedProduct(r.id, r.unit, r.is_archived, r.min_quantity) for r in rows}


async def read_levels(session: AsyncSession, product_ids: Iterable[int]) -> dict[tuple[int, int], Decimal]:
    """Every level of the (locked) products, all locations: the totals need them all."""
    ids = list(set(product_ids))
    where = LEVELS.c.product_id == ids[0] if len(ids) == 1 else LEVELS.c.product_id.in_(ids)
    rows = await session.execute(
        select(LEVELS.c.product_id, LEVELS.c.location_id, LEVELS.c.quantity).where(where)
    )
    return {(r.product_id, r.location_id): r.quantity for r in rows}


def check_quantity(product: LockedProduct, quantity: Decimal, field: str = "quantity") -> None:
    if not fits_unit(quantity, product.unit):
        raise exc.invalid_quantity(product.unit, field)


def plan(
    postings: Sequence[Posting], levels: dict[tuple[int, int], Decimal]
) -> list[tuple[Posting, Decimal]]:
    """Each posting with the balance after it; refuses (writing nothing) any that goes below zero."""
    balances = dict(levels)
    planned = []
    for posting in postings:
        key = (posting.product_id, posting.location_id)
        before = balances.get(key, ZERO)
        after = before + posting.delta
        if after < 0:
            raise exc.insufficient_stock(
                product_id=posting.product_id,
                location_id=posting.location_id,
                available=before,
                requested=abs(posting.quantity),
            )
        balances[key] = after
        planned.append((posting, after))
    return planned


async def write_levels(
    session: AsyncSession,
    final: dict[tuple[int, int], Decimal],
    levels: dict[tuple[int, int], Decimal],
    now: dt.datetime,
) -> None:
    """Store the levels ``final`` (product, location -> quantity); ``levels`` are the rows that exist."""
    inserts = [
        {"product_id": p, "location_id": loc, "quantity": q, "updated_at": now}
        for (p, loc), q in final.items()
        if (p, loc) not in levels
    ]
    updates = [
        {"p": p, "loc": loc, "q": q, "now": now} for (p, loc), q in final.items() if (p, loc) in levels
    ]
    conn = await session.connection()
    if conn.dialect.name == "mysql" and len(inserts) + len(updates) > 1:
        # One statement for them all: MariaDB's driver sends an UPDATE per row, a round trip
        # each (the products are locked, so the upsert decides nothing the plan did not).
        rows = inserts + [
            {"product_id": u["p"], "location_id": u["loc"], "quantity": u["q"], "updated_at": now}
            for u in updates
        ]
        await conn.execute(_LEVEL_UPSERT, rows)  # the driver sends its rows as one statement
        return
    if inserts:
        await conn.execute(insert(LEVELS), inserts)
    if updates:
        await conn.execute(LEVEL_UPDATE, updates[0] if len(updates) == 1 else updates)


async def insert_entries(session: AsyncSession, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ledger entries in one statement; their ids, in the order given (ascending, so the
    last entry of a level is the one its balance_after matches)."""
    conn = await session.connection()
    if len(rows) == 1:
        result = await conn.execute(insert(MOVEMENTS), rows[0])
        return [result.inserted_primary_key[0]]  # type: ignore[index]
    result = await conn.execute(
        insert(MOVEMENTS).returning(MOVEMENTS.c.id, sort_by_parameter_order=True), rows
    )
    return list(result.scalars())


async def write(
    session: AsyncSession,
    *,
    products: dict[int, LockedProduct],
    planned: Sequence[tuple[Posting, Decimal]],
    levels: dict[tuple[int, int], Decimal],
    user_id: int,
    now: dt.datetime,
    idempotency_key: str | None = None,
    transfer_id: str | None = None,
) -> Posted:
    """Write the planned entries and their levels; the caller holds the product locks and commits."""
    posted = Posted()
    final: dict[tuple[int, int], Decimal] = {}
    for posting, after in planned:
        final[(posting.product_id, posting.location_id)] = after
    await write_levels(session, final, levels, now)
    totals_before: dict[int, Decimal] = {}
    for (p, _loc), q in levels.items():
        totals_before[p] = totals_before.get(p, ZERO) + q
    totals_after = dict(totals_before)
    rows = [
        {
            "product_id": posting.product_id,
            "location_id": posting.location_id,
            "movement_type": posting.movement_type,
            "quantity": posting.quantity,
            "balance_after": after,
            "user_id": user_id,
            "reason": posting.reason,
            "reference": posting.reference,
            "idempotency_key": idempotency_key,
            "transfer_id": transfer_id,
            "check_id": posting.check_id,
            "created_at": now,
        }
        for posting, after in planned
    ]
    for row, movement_id in zip(rows, await insert_entries(session, rows), strict=True):
        row["id"] = movement_id
        posted.rows.append(row)
    for posting, _after in planned:
        totals_after[posting.product_id] = totals_after.get(posting.product_id, ZERO) + posting.delta
    for product_id, after_total in totals_after.items():
        minimum = products[product_id].min_quantity
        before_total = totals_before.get(product_id, ZERO)
        if before_total >= minimum > after_total:
            last = [r["id"] for r in posted.rows if r["product_id"] == product_id][-1]
            posted.crossings.append((product_id, last))
    return posted


async def post(
    session: AsyncSession,
    product: LockedProduct,
    postings: Sequence[Posting],
    *,
    user_id: int,
    idempotency_key: str | None = None,
    transfer_id: str | None = None,
    levels: dict[tuple[int, int], Decimal] | None = None,
) -> Posted:
    """One locked product's entries, planned against its levels (read now unless given: a new
    product has none) and written; refuses them all when one would go below zero."""
    if levels is None:
        levels = await read_levels(session, [product.id])
    return await write(
        session,
        products={product.id: product},
        planned=plan(postings, levels),
        levels=levels,
        user_id=user_id,
        now=utcnow(),
        idempotency_key=idempotency_key,
        transfer_id=transfer_id,
    )
