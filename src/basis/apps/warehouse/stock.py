"""Stock reports (levels, low stock, overstock) and W1's audit of the levels against the ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from sqlalchemy import Table, and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse.catalogue import (
    LEVELS,
    LOCATIONS,
    PRODUCTS,
    product_public,
    product_select,
    total_of,
)
from basis.apps.warehouse.models import REPORT_INDEX, StockMovement
from basis.apps.warehouse.schemas import ProductPublic
from basis.apps.warehouse.types import STEP

MOVEMENTS: Table = StockMovement.__table__  # type: ignore[assignment]


def low_stock_condition(total: Any) -> Any:
    return and_(PRODUCTS.c.is_archived == False, total < PRODUCTS.c.min_quantity)  # noqa: E712


def overstock_condition(total: Any) -> Any:
    return and_(
        PRODUCTS.c.is_archived == False,  # noqa: E712
        PRODUCTS.c.max_quantity.is_not(None),
        total > PRODUCTS.c.max_quantity,
    )


async def low_stock(*, session: AsyncSession) -> list[ProductPublic]:
    total = total_of(PRODUCTS.c.id)
    rows = await session.execute(
        product_select(total).where(low_stock_condition(total)).order_by(PRODUCTS.c.name)
    )
    return [product_public(r) for r in rows]


async def overstock(*, session: AsyncSession) -> list[ProductPublic]:
    total = total_of(PRODUCTS.c.id)
    rows = await session.execute(
        product_select(total).where(overstock_condition(total)).order_by(PRODUCTS.c.name)
    )
    return [product_public(r) for r in rows]


STOCK_COLUMNS = ("product_id", "sku", "name", "location_id", "location", "quantity", "unit")
QUANTITY = STOCK_COLUMNS.index("quantity")
_STRINGS = frozenset({"sku", "name", "location", "unit"})


CHUNK_ROWS = 5_000
"""Rows fetched from the database and written out at a time by the streamed report."""

_CHUNKED = psycopg.pq.version() >= 170000
"""libpq 17 and later hand rows over in chunks; before, one by one."""


def _columns() -> list[Any]:
    return [
        PRODUCTS.c.id,
        PRODUCTS.c.sku,
        PRODUCTS.c.name,
        LEVELS.c.location_id,
        LOCATIONS.c.name,
        LEVELS.c.quantity,
        PRODUCTS.c.unit,
    ]


def _json_text(dialect: str) -> Any:
    """PostgreSQL and MariaDB: a report row as its JSON object, written by the database as
    text. Numbers as the API writes them (5, not 5.000), strings through the database's own
    JSON quoting. ``json_build_object`` costs PostgreSQL twice as much as this concatenation."""
    if dialect == "postgresql":
        quote: Any = func.to_json
        quantity: Any = func.trim_scale(LEVELS.c.quantity)
    else:  # MariaDB: a DECIMAL(18,3) always has its three decimals to trim
        quote = func.json_quote
        quantity = literal_column("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM stock_levels.quantity))")
    values = _columns()
    values[QUANTITY] = quantity
    parts: list[Any] = []
    for index, (name, value) in enumerate(zip(STOCK_COLUMNS, values, strict=True)):
        # Constant SQL text, not parameters: concat() cannot type an untyped parameter.
        parts.append(literal_column("'" + ("{" if index == 0 else ",") + f'"{name}":' + "'"))
        parts.append(quote(value) if name in _STRINGS else value)
    parts.append(literal_column("'}'"))
    return func.concat(*parts)


def stock_select(
    location_id: int | None = None, columns: list[Any] | None = None, *, by_sku_only: bool = False
) -> Any:
    """Every level of every active product (zero ones too), and archived products still in stock,
    ordered by SKU, location name and location id.

    ``by_sku_only`` (MariaDB): products walked in SKU order on ``REPORT_INDEX``, each one's levels
    by primary key, ordered by SKU alone; ``_by_location`` orders each product's levels. To sort
    across three tables MariaDB would materialise the whole join in an on-disk temporary table,
    which took twice as long as this walk."""
    stmt = select(*(columns or _columns())).where(
        or_(PRODUCTS.c.is_archived == False, LEVELS.c.quantity != 0)  # noqa: E712
    )
    if by_sku_only:
        stmt = (
            stmt.select_from(PRODUCTS.join(LEVELS, PRODUCTS.c.id == LEVELS.c.product_id))
            .join(LOCATIONS, LOCATIONS.c.id == LEVELS.c.location_id)
            .prefix_with("STRAIGHT_JOIN", dialect="mysql")
            .with_hint(PRODUCTS, f"FORCE INDEX ({REPORT_INDEX})", "mysql")
            .order_by(PRODUCTS.c.sku)
        )
    else:
        stmt = (
            stmt.select_from(LEVELS.join(PRODUCTS, PRODUCTS.c.id == LEVELS.c.product_id))
            .join(LOCATIONS, LOCATIONS.c.id == LEVELS.c.location_id)
            .order_by(PRODUCTS.c.sku, LOCATIONS.c.name, LEVELS.c.location_id)
        )
    if location_id is not None:
        stmt = stmt.where(LEVELS.c.location_id == location_id)
    return stmt


async def stream_stock_json(
    session: AsyncSession, location_id: int | None = None, *, chunk: int = CHUNK_ROWS
) -> AsyncIterator[list[str]]:
    """PostgreSQL and MariaDB: the report's rows as JSON objects (text), ``chunk`` at a time."""
    dialect = session.get_bind().dialect.name
    columns = [_json_text(dialect)]
    if dialect == "mysql":  # what ``_report`` orders each product's levels by
        columns += [PRODUCTS.c.id, LEVELS.c.location_id]
    async for rows in _report(session, location_id, columns, chunk, product_at=1, location_at=2):
        yield [row[0] for row in rows]


async def stream_stock_rows(
    session: AsyncSession, location_id: int | None = None, *, chunk: int = CHUNK_ROWS
) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    """The stock report's rows (``STOCK_COLUMNS``), ``chunk`` at a time."""
    async for rows in _report(session, location_id, _columns(), chunk, product_at=0, location_at=3):
        yield rows


async def _report_connection(session: AsyncSession) -> Any:
    """The fresh session's connection; on MariaDB at REPEATABLE READ, so that the locations'
    order and the report's rows are read in one snapshot (READ COMMITTED, this app's default,
    takes one per statement). PostgreSQL and SQLite read the report in one statement."""
    if session.get_bind().dialect.name != "mysql":
        return await session.connection()
    return await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def _report(
    session: AsyncSession,
    location_id: int | None,
    columns: list[Any],
    chunk: int,
    *,
    product_at: int,
    location_at: int,
) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    conn = await _report_connection(session)
    if conn.dialect.name != "mysql":
        async for rows in _stream(session, stock_select(location_id, columns), chunk):
            yield rows
        return
    ids = await conn.scalars(select(LOCATIONS.c.id).order_by(LOCATIONS.c.name, LOCATIONS.c.id))
    rank = {location: place for place, location in enumerate(ids)}
    stmt = stock_select(location_id, columns, by_sku_only=True)
    held: list[tuple[Any, ...]] = []
    async for rows in _stream(session, stmt, chunk):
        batch = held + list(rows) if held else list(rows)
        # A product's rows are adjacent (SKUs are unique); the chunk's last product waits for the
        # next chunk, which may hold more of its levels.
        last, cut = batch[-1][product_at], len(batch) - 1
        while cut and batch[cut - 1][product_at] == last:
            cut -= 1
        held = batch[cut:]
        if cut:
            yield _by_location(batch[:cut], rank, product_at, location_at)
    if held:
        yield _by_location(held, rank, product_at, location_at)


def _by_location(
    rows: list[tuple[Any, ...]], rank: dict[int, int], product_at: int, location_at: int
) -> list[tuple[Any, ...]]:
    """Rows in SKU order with each product's levels put in location order (name, then id), as
    MariaDB collates the names. Most products have one level here: then nothing moves."""
    products = [row[product_at] for row in rows]
    if len(set(products)) == len(products):
        return rows
    first: dict[int, int] = {}
    for place, product in enumerate(products):
        first.setdefault(product, place)
    return sorted(rows, key=lambda row: (first[row[product_at]], rank[row[location_at]]))


async def _stream(session: AsyncSession, stmt: Any, chunk: int) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    """``stmt``'s rows, ``chunk`` at a time, from a server-side cursor: memory stays flat
    however many rows there are. On PostgreSQL straight from psycopg (plain tuples), which
    skips SQLAlchemy's per-row work; elsewhere through ``stream()`` with
    ``yield_per`` (MariaDB: an unbuffered cursor; SQLite steps its cursor)."""
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        result = await conn.stream(stmt.execution_options(yield_per=chunk))
        async for partition in result.partitions(chunk):
            yield [tuple(row) for row in partition]
        return
    sql, params = _compiled(stmt, conn.dialect)
    raw = (await conn.get_raw_connection()).driver_connection
    # One query, not a named cursor: a cursor may not run in parallel and costs a round trip
    # per chunk. The rows arrive ``chunk`` at a time (libpq's chunked mode; one by one before
    # libpq 17), and the server waits while the process writes them out, so memory stays flat.
    # The sort of 100k rows spills to disk at the default 4MB, and a report is worth workers.
    for setting in ("work_mem = '64MB'", "parallel_setup_cost = 0", "parallel_tuple_cost = 0"):
        await conn.exec_driver_sql(f"SET LOCAL {setting}")
    batch: list[tuple[Any, ...]] = []
    async for row in raw.cursor().stream(sql, params, size=chunk if _CHUNKED else 1):
        batch.append(row)
        if len(batch) == chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def _compiled(stmt: Any, dialect: Any) -> tuple[str, dict[str, Any]]:
    compiled = stmt.compile(dialect=dialect)
    return compiled.string, dict(compiled.params)


# --- W1: the ledger against the levels


@dataclass(frozen=True, slots=True)
class Drift:
    product_id: int
    location_id: int
    level: Decimal | None
    """The stored level (None: no level row)."""
    ledger: Decimal
    """The sum of the movements."""
    last_balance: Decimal | None
    """balance_after of the latest movement (None: no movement)."""


async def verify(*, session: AsyncSession) -> list[Drift]:
    """Every (product, location) whose level differs from its ledger, or is negative; [] when sound."""
    signed = case(
        (MOVEMENTS.c.movement_type.in_(("outgoing", "transfer_out")), -MOVEMENTS.c.quantity),
        else_=MOVEMENTS.c.quantity,
    )
    sums = (
        select(
            MOVEMENTS.c.product_id,
            MOVEMENTS.c.location_id,
            func.sum(signed).label("total"),
            func.max(MOVEMENTS.c.id).label("last_id"),
        )
        .group_by(MOVEMENTS.c.product_id, MOVEMENTS.c.location_id)
        .subquery()
    )
    ledger_rows = await session.execute(
        select(sums.c.product_id, sums.c.location_id, sums.c.total, MOVEMENTS.c.balance_after).join(
            MOVEMENTS, MOVEMENTS.c.id == sums.c.last_id
        )
    )
    from_ledger = {(r.product_id, r.location_id): (Decimal(r.total), r.balance_after) for r in ledger_rows}
    levels = {
        (r.product_id, r.location_id): r.quantity
        for r in await session.execute(select(LEVELS.c.product_id, LEVELS.c.location_id, LEVELS.c.quantity))
    }
    drifts = []
    for key in sorted(set(from_ledger) | set(levels)):
        total, last = from_ledger.get(key, (Decimal(0), None))
        level = levels.get(key)
        sound = (
            (level if level is not None else Decimal(0)) == total
            and (last is None or last == total)
            and total >= 0
        )
        if not sound:
            drifts.append(Drift(key[0], key[1], level, total.quantize(STEP), last))
    await session.rollback()
    return drifts
