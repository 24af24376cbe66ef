"""Warehouse rules: catalogue, locations, movements and transfers, inventory checks, reports.

Writes that clients retry (movements, transfers, creations) return an ``Answer`` (status and
JSON body) so an ``Idempotency-Key`` can replay it byte for byte. Hot paths use Core selects.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse import ledger
from basis.apps.warehouse.models import (
    Category,
    IdempotencyKey,
    InventoryCheck,
    InventoryCheckLine,
    Location,
    Product,
    StockLevel,
    StockMovement,
)
from basis.apps.warehouse.schemas import (
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    CheckCreate,
    CheckLinePublic,
    CheckLines,
    CheckPublic,
    CheckSummary,
    LevelPublic,
    LocationCreate,
    LocationPublic,
    LocationUpdate,
    MovementCreate,
    MovementPublic,
    ProductCreate,
    ProductPublic,
    ProductStock,
    ProductUpdate,
    TransferCreate,
    TransferPublic,
)
from basis.apps.warehouse.types import STEP, fits_unit, is_counted
from basis.core.db import insert_or_skip, lock_row, retry_transient
from basis.core.errors import Conflict, Unprocessable
from basis.core.idempotency import Answer, IdempotencyStore, run_once
from basis.core.logging import get_logger
from basis.core.pagination import Page
from basis.core.time import utcnow
from basis.core.types import is_storable

if TYPE_CHECKING:
    import datetime as dt

    from basis.core.jobs import JobQueue
    from basis.identity.models import User

log = get_logger("basis.warehouse")

PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
CATEGORIES: Table = Category.__table__  # type: ignore[assignment]
LOCATIONS: Table = Location.__table__  # type: ignore[assignment]
LEVELS: Table = StockLevel.__table__  # type: ignore[assignment]
MOVEMENTS: Table = StockMovement.__table__  # type: ignore[assignment]
CHECKS: Table = InventoryCheck.__table__  # type: ignore[assignment]
LINES: Table = InventoryCheckLine.__table__  # type: ignore[assignment]

KEYS = IdempotencyStore(IdempotencyKey, scope=("user_id", "endpoint"))
DEFAULT_LOCATION_NAME = "Main warehouse"
LOW_STOCK_JOB = "warehouse.low_stock_mail"
T = TypeVar("T")


# --- plumbing


def _logged(attempt: int, error: DBAPIError) -> None:
    log.info("warehouse_retry_transaction", attempt=attempt, error=type(error.orig).__name__)


async def _retrying(session: AsyncSession, work: Callable[[], Awaitable[T]]) -> T:
    """Run a write transaction again after a deadlock or a lock timeout (the database chose a victim)."""
    return await retry_transient(work, before_retry=session.rollback, on_retry=_logged)


async def _idempotent(
    session: AsyncSession,
    *,
    user_id: int,
    endpoint: str,
    key: str | None,
    payload: dict[str, Any],
    work: Callable[[], Awaitable[Answer]],
) -> Answer:
    """Do ``work`` once per key (W5); refusals are stored and replayed like successes."""
    done = await run_once(
        session,
        KEYS,
        scope={"user_id": user_id, "endpoint": endpoint},
        key=key,
        payload=payload,
        work=work,
        answer=lambda answer: answer,
        on_retry=_logged,
    )
    return done.answer


async def _notify_low_stock(jobs: JobQueue | None, crossings: Sequence[tuple[int, int]]) -> None:
    if jobs is None:
        return
    for product_id, movement_id in crossings:
        try:
            await jobs.enqueue(
                LOW_STOCK_JOB,
                key=f"warehouse.low_stock:{product_id}:{movement_id}",
                product_id=product_id,
                movement_id=movement_id,
            )
        except Exception as error:  # the movement is stored; a lost mail must not fail it
            log.error("warehouse_low_stock_enqueue_failed", product_id=product_id, error=str(error))


def _search(q: str | None) -> str | None:
    if q and not is_storable(q):
        raise Unprocessable("q contains characters that cannot be searched for", code="validation_error")
    return q or None


def _page(items: list[T], total: int, limit: int, offset: int) -> Page[T]:
    return Page[T](items=items, total=total, limit=limit, offset=offset)


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


# --- locations


async def ensure_default_location(session: AsyncSession) -> int:
    """The default location's id, created on first use when none exists (W6, movements)."""
    found = await session.scalar(select(LOCATIONS.c.id).where(LOCATIONS.c.is_default == true()))
    if found is not None:
        return found
    # The unique is_default makes concurrent first uses create one row between them.
    await insert_or_skip(session, LOCATIONS, {"name": DEFAULT_LOCATION_NAME, "is_default": True})
    found = await session.scalar(select(LOCATIONS.c.id).where(LOCATIONS.c.is_default == true()))
    assert found is not None
    return found


def _location_public(row: Any) -> LocationPublic:
    return LocationPublic(
        id=row.id,
        name=row.name,
        parent_id=row.parent_id,
        description=row.description,
        is_default=bool(row.is_default),
    )


async def list_locations(*, session: AsyncSession, limit: int, offset: int) -> Page[LocationPublic]:
    if await session.scalar(select(LOCATIONS.c.id).where(LOCATIONS.c.is_default == true())) is None:
        await ensure_default_location(session)
        await session.commit()
    total = await session.scalar(select(func.count()).select_from(LOCATIONS)) or 0
    rows = await session.execute(select(LOCATIONS).order_by(LOCATIONS.c.id).limit(limit).offset(offset))
    return _page([_location_public(r) for r in rows], total, limit, offset)


async def get_location(*, session: AsyncSession, location_id: int) -> LocationPublic:
    row = (await session.execute(select(LOCATIONS).where(LOCATIONS.c.id == location_id))).one_or_none()
    if row is None:
        raise exc.location_not_found(location_id)
    return _location_public(row)


async def _require_location(session: AsyncSession, location_id: int | None) -> int:
    if location_id is None:
        return await ensure_default_location(session)
    if await session.scalar(select(LOCATIONS.c.id).where(LOCATIONS.c.id == location_id)) is None:
        raise exc.location_not_found(location_id)
    return location_id


async def _check_location_name(
    session: AsyncSession, name: str, parent_id: int | None, own_id: int | None
) -> None:
    stmt = select(LOCATIONS.c.id).where(
        func.lower(LOCATIONS.c.name) == name.lower(),
        LOCATIONS.c.parent_id.is_(None) if parent_id is None else LOCATIONS.c.parent_id == parent_id,
    )
    if own_id is not None:
        stmt = stmt.where(LOCATIONS.c.id != own_id)
    if await session.scalar(stmt) is not None:
        raise Conflict("A location with this name already exists here", code="duplicate_location")


async def _make_default(session: AsyncSession, location_id: int) -> None:
    await session.execute(update(LOCATIONS).where(LOCATIONS.c.is_default == true()).values(is_default=None))
    await session.execute(update(LOCATIONS).where(LOCATIONS.c.id == location_id).values(is_default=True))


async def create_location(*, session: AsyncSession, data: LocationCreate, actor: User) -> LocationPublic:
    if data.parent_id is not None:
        await _require_location(session, data.parent_id)
    await _check_location_name(session, data.name, data.parent_id, None)
    location = Location(name=data.name, parent_id=data.parent_id, description=data.description)
    session.add(location)
    try:
        await session.flush()
        if data.is_default:
            await _make_default(session, location.id)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("A location with this name already exists here", code="duplicate_location") from None
    return await get_location(session=session, location_id=location.id)


async def _ancestors(session: AsyncSession, table: Table, start: int | None) -> set[int]:
    seen: set[int] = set()
    current = start
    while current is not None and current not in seen:
        seen.add(current)
        current = await session.scalar(select(table.c.parent_id).where(table.c.id == current))
    return seen


async def update_location(
    *, session: AsyncSession, location_id: int, data: LocationUpdate, actor: User
) -> LocationPublic:
    location = await session.get(Location, location_id, with_for_update=True)
    if location is None:
        raise exc.location_not_found(location_id)
    fields = data.model_dump(exclude_unset=True)
    if "name" in fields and fields["name"] is None:
        raise Unprocessable("name cannot be null", code="validation_error")
    if "parent_id" in fields and fields["parent_id"] is not None:
        await _require_location(session, fields["parent_id"])
        if location_id in await _ancestors(session, LOCATIONS, fields["parent_id"]):
            raise Unprocessable("A location cannot be inside itself", code="location_cycle")
    name = fields.get("name", location.name)
    parent_id = fields.get("parent_id", location.parent_id)
    await _check_location_name(session, name, parent_id, location_id)
    for field in ("name", "parent_id", "description"):
        if field in fields:
            setattr(location, field, fields[field])
    try:
        await session.flush()
        if fields.get("is_default"):
            await _make_default(session, location_id)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("A location with this name already exists here", code="duplicate_location") from None
    return await get_location(session=session, location_id=location_id)


# --- categories


async def list_categories(
    *, session: AsyncSession, limit: int, offset: int, parent_id: int | None = None, q: str | None = None
) -> Page[CategoryPublic]:
    where = []
    q = _search(q)
    if parent_id is not None:
        where.append(CATEGORIES.c.parent_id == parent_id)
    if q:
        where.append(CATEGORIES.c.name.icontains(q, autoescape=True))
    total = await session.scalar(select(func.count()).select_from(CATEGORIES).where(*where)) or 0
    rows = await session.execute(
        select(CATEGORIES)
        .where(*where)
        .order_by(CATEGORIES.c.name, CATEGORIES.c.id)
        .limit(limit)
        .offset(offset)
    )
    items = [
        CategoryPublic(id=r.id, name=r.name, parent_id=r.parent_id, description=r.description) for r in rows
    ]
    return _page(items, total, limit, offset)


async def get_category(*, session: AsyncSession, category_id: int) -> CategoryPublic:
    category = await session.get(Category, category_id)
    if category is None:
        raise exc.category_not_found(category_id)
    return CategoryPublic.model_validate(category)


async def _require_category(session: AsyncSession, category_id: int) -> None:
    if await session.scalar(select(CATEGORIES.c.id).where(CATEGORIES.c.id == category_id)) is None:
        raise exc.category_not_found(category_id)


async def _check_category_name(
    session: AsyncSession, name: str, parent_id: int | None, own_id: int | None
) -> None:
    stmt = select(CATEGORIES.c.id).where(
        func.lower(CATEGORIES.c.name) == name.lower(),
        CATEGORIES.c.parent_id.is_(None) if parent_id is None else CATEGORIES.c.parent_id == parent_id,
    )
    if own_id is not None:
        stmt = stmt.where(CATEGORIES.c.id != own_id)
    if await session.scalar(stmt) is not None:
        raise Conflict("A category with this name already exists here", code="duplicate_category")


async def create_category(*, session: AsyncSession, data: CategoryCreate, actor: User) -> CategoryPublic:
    if data.parent_id is not None:
        await _require_category(session, data.parent_id)
    await _check_category_name(session, data.name, data.parent_id, None)
    category = Category(name=data.name, parent_id=data.parent_id, description=data.description)
    session.add(category)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("A category with this name already exists here", code="duplicate_category") from None
    return CategoryPublic.model_validate(category)


async def update_category(
    *, session: AsyncSession, category_id: int, data: CategoryUpdate, actor: User
) -> CategoryPublic:
    category = await session.get(Category, category_id, with_for_update=True)
    if category is None:
        raise exc.category_not_found(category_id)
    fields = data.model_dump(exclude_unset=True)
    if fields.get("parent_id") is not None:
        await _require_category(session, fields["parent_id"])
        if category_id in await _ancestors(session, CATEGORIES, fields["parent_id"]):
            raise Unprocessable("A category cannot be inside itself", code="category_cycle")
    if "name" in fields and fields["name"] is None:
        raise Unprocessable("name cannot be empty", code="validation_error")
    await _check_category_name(
        session, fields.get("name", category.name), fields.get("parent_id", category.parent_id), category_id
    )
    for field, value in fields.items():
        setattr(category, field, value)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict("A category with this name already exists here", code="duplicate_category") from None
    return CategoryPublic.model_validate(category)


async def delete_category(*, session: AsyncSession, category_id: int, actor: User) -> None:
    category = await session.get(Category, category_id, with_for_update=True)
    if category is None:
        raise exc.category_not_found(category_id)
    if await session.scalar(select(exists().where(PRODUCTS.c.category_id == category_id))):
        raise Conflict("The category still has products", code="category_in_use")
    if await session.scalar(select(exists().where(CATEGORIES.c.parent_id == category_id))):
        raise Conflict("The category still has subcategories", code="category_has_children")
    await session.delete(category)
    try:
        await session.commit()
    except IntegrityError:  # a product moved in meanwhile
        await session.rollback()
        raise Conflict("The category still has products", code="category_in_use") from None


# --- products


def _total_of(product_id: Any) -> Any:
    return (
        select(func.coalesce(func.sum(LEVELS.c.quantity), literal(Decimal(0), LEVELS.c.quantity.type)))
        .where(LEVELS.c.product_id == product_id)
        .scalar_subquery()
    )


def _product_select(total: Any | None = None) -> Select[Any]:
    total = _total_of(PRODUCTS.c.id) if total is None else total
    return select(*PRODUCTS.c, total.label("current_quantity"))


def _product_public(row: Any) -> ProductPublic:
    return ProductPublic.model_validate(dict(row._mapping))


async def get_product(*, session: AsyncSession, product_id: int) -> ProductPublic:
    row = (await session.execute(_product_select().where(PRODUCTS.c.id == product_id))).one_or_none()
    if row is None:
        raise exc.product_not_found(product_id)
    return _product_public(row)


async def find_product(
    *, session: AsyncSession, qr_code: str | None = None, barcode: str | None = None
) -> ProductPublic:
    """The scan: archived products are found too (their stock can still be looked at)."""
    column, value = (PRODUCTS.c.qr_code, qr_code) if qr_code is not None else (PRODUCTS.c.barcode, barcode)
    if not value or len(value) > 255 or not is_storable(value):
        raise exc.product_not_found()
    row = (await session.execute(_product_select().where(column == value))).one_or_none()
    if row is None:
        raise exc.product_not_found()
    return _product_public(row)


async def list_products(
    *,
    session: AsyncSession,
    limit: int,
    offset: int,
    q: str | None = None,
    category_id: int | None = None,
    low_stock: bool = False,
    include_archived: bool = False,
) -> Page[ProductPublic]:
    total_expr = _total_of(PRODUCTS.c.id)
    where = []
    q = _search(q)
    if not include_archived:
        where.append(PRODUCTS.c.is_archived == False)  # noqa: E712
    if q:
        where.append(
            or_(
                PRODUCTS.c.name.icontains(q, autoescape=True),
                PRODUCTS.c.sku.icontains(q, autoescape=True),
                PRODUCTS.c.barcode.icontains(q, autoescape=True),
            )
        )
    if category_id is not None:
        where.append(PRODUCTS.c.category_id == category_id)
    if low_stock:
        where.append(total_expr < PRODUCTS.c.min_quantity)
    total = await session.scalar(select(func.count()).select_from(PRODUCTS).where(*where)) or 0
    rows = await session.execute(
        _product_select(total_expr).where(*where).order_by(PRODUCTS.c.id).limit(limit).offset(offset)
    )
    return _page([_product_public(r) for r in rows], total, limit, offset)


def _check_limits(unit: str, low: Decimal | None, high: Decimal | None) -> None:
    for name, value in (("min_quantity", low), ("max_quantity", high)):
        if value is not None and not fits_unit(value, unit):
            raise exc.invalid_quantity(unit, name)
    if low is not None and high is not None and high < low:
        raise Unprocessable("max_quantity must not be below min_quantity", code="invalid_limits")


async def _check_unique(session: AsyncSession, fields: dict[str, Any], own_id: int | None) -> None:
    for field in ("sku", "qr_code", "barcode"):
        value = fields.get(field)
        if value is None:
            continue
        stmt = select(PRODUCTS.c.id).where(PRODUCTS.c[field] == value)
        if own_id is not None:
            stmt = stmt.where(PRODUCTS.c.id != own_id)
        if await session.scalar(stmt) is not None:
            raise exc.duplicate(field, value)


async def create_product(
    *,
    session: AsyncSession,
    data: ProductCreate,
    actor: User,
    idempotency_key: str | None = None,
    jobs: JobQueue | None = None,
) -> Answer:
    actor_id = actor.id
    fields = data.model_dump(exclude={"current_quantity"})

    async def work() -> Answer:
        _check_limits(data.unit, data.min_quantity, data.max_quantity)
        if data.current_quantity is not None and not fits_unit(data.current_quantity, data.unit):
            raise exc.invalid_quantity(data.unit, "current_quantity")
        if data.category_id is not None:
            await _require_category(session, data.category_id)
        await _check_unique(session, fields, None)
        product = Product(
            **{k: v for k, v in fields.items() if v is not None or k in ("description", "barcode")}
        )
        session.add(product)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            await _check_unique(session, fields, None)
            raise
        if data.current_quantity:
            location_id = await ensure_default_location(session)
            locked, _ = await ledger.lock_product(session, product.id)
            planned = ledger.plan(
                [
                    ledger.Posting(
                        product.id, location_id, "incoming", data.current_quantity, reason="Initial stock"
                    )
                ],
                {},
            )
            await ledger.write(
                session,
                products={product.id: locked},
                planned=planned,
                levels={},
                user_id=actor_id,
                now=utcnow(),
                idempotency_key=idempotency_key,
            )
        row = (await session.execute(_product_select().where(PRODUCTS.c.id == product.id))).one()
        return Answer(201, _json(_product_public(row)))

    payload = {**_jsonable(data.model_dump())}
    return await _idempotent(
        session, user_id=actor_id, endpoint="POST /products", key=idempotency_key, payload=payload, work=work
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (format(v.quantize(STEP)) if isinstance(v, Decimal) else v) for k, v in values.items()}


async def update_product(
    *, session: AsyncSession, product_id: int, data: ProductUpdate, actor: User
) -> ProductPublic:
    fields = data.model_dump(exclude_unset=True)
    for required in ("name", "sku", "qr_code", "unit", "min_quantity", "is_archived"):
        if required in fields and fields[required] is None:
            raise Unprocessable(f"{required} cannot be null", code="validation_error")

    async def work() -> ProductPublic:
        await ledger.lock_product(session, product_id)
        product = await session.get(Product, product_id, populate_existing=True)
        assert product is not None
        unit = fields.get("unit", product.unit)
        low = fields.get("min_quantity", product.min_quantity)
        high = fields.get("max_quantity", product.max_quantity)
        _check_limits(unit, low, high)
        if "unit" in fields and is_counted(unit) and not is_counted(product.unit):
            levels = await ledger.read_levels(session, [product_id])
            if any(not fits_unit(q, unit) for q in levels.values()):
                raise Conflict(
                    "The product holds fractional stock; a counted unit needs whole numbers",
                    code="unit_conflict",
                )
        if fields.get("category_id") is not None:
            await _require_category(session, fields["category_id"])
        await _check_unique(session, fields, product_id)
        for field, value in fields.items():
            setattr(product, field, value)
        product.updated_at = utcnow()
        await session.commit()
        return await get_product(session=session, product_id=product_id)

    try:
        return await _retrying(session, work)
    except IntegrityError:
        await session.rollback()
        await _check_unique(session, fields, product_id)
        raise


async def delete_product(*, session: AsyncSession, product_id: int, actor: User) -> ProductPublic | None:
    """Deletes a product nothing refers to; archives one with history (None when deleted)."""
    await ledger.lock_product(session, product_id)
    used = await session.scalar(
        select(
            or_(
                exists().where(MOVEMENTS.c.product_id == product_id),
                exists().where(LINES.c.product_id == product_id),
                exists().where(LEVELS.c.product_id == product_id),
            )
        )
    )
    if used:
        await session.execute(
            update(PRODUCTS).where(PRODUCTS.c.id == product_id).values(is_archived=True, updated_at=utcnow())
        )
        await session.commit()
        return await get_product(session=session, product_id=product_id)
    await session.execute(delete(PRODUCTS).where(PRODUCTS.c.id == product_id))
    await session.commit()
    return None


async def product_stock(*, session: AsyncSession, product_id: int) -> ProductStock:
    unit = await session.scalar(select(PRODUCTS.c.unit).where(PRODUCTS.c.id == product_id))
    if unit is None:
        raise exc.product_not_found(product_id)
    rows = await session.execute(
        select(LEVELS.c.location_id, LOCATIONS.c.name, LEVELS.c.quantity)
        .join(LOCATIONS, LOCATIONS.c.id == LEVELS.c.location_id)
        .where(LEVELS.c.product_id == product_id)
        .order_by(LEVELS.c.location_id)
    )
    levels = [LevelPublic(location_id=r.location_id, location=r.name, quantity=r.quantity) for r in rows]
    total = sum((lv.quantity for lv in levels), Decimal(0))
    return ProductStock(product_id=product_id, unit=unit, total=total, levels=levels)


# --- movements


def _movement_public(row: Any) -> MovementPublic:
    return MovementPublic.model_validate(row if isinstance(row, dict) else dict(row._mapping))


async def record_movement(
    *,
    session: AsyncSession,
    data: MovementCreate,
    actor: User,
    idempotency_key: str | None = None,
    jobs: JobQueue | None = None,
) -> Answer:
    """W1-W3, W5: one ledger entry and its level in one transaction, never below zero."""
    actor_id = actor.id
    crossings: list[tuple[int, int]] = []

    async def work() -> Answer:
        crossings.clear()
        product, (location_id,) = await ledger.lock_product(session, data.product_id, [data.location_id])
        if location_id is None:
            if data.location_id is not None:
                raise exc.location_not_found(data.location_id)
            location_id = await ensure_default_location(session)
        if product.is_archived:
            raise exc.product_archived(product.id)
        ledger.check_quantity(product, data.quantity)
        levels = await ledger.read_levels(session, [product.id])
        posting = ledger.Posting(
            product.id,
            location_id,
            data.movement_type,
            data.quantity,
            reason=data.reason,
            reference=data.reference,
        )
        planned = ledger.plan([posting], levels)
        posted = await ledger.write(
            session,
            products={product.id: product},
            planned=planned,
            levels=levels,
            user_id=actor_id,
            now=utcnow(),
            idempotency_key=idempotency_key,
        )
        crossings.extend(posted.crossings)
        return Answer(201, _json(_movement_public(posted.rows[0])))

    payload = _jsonable(data.model_dump())
    answer = await _idempotent(
        session,
        user_id=actor_id,
        endpoint="POST /stock-movements",
        key=idempotency_key,
        payload=payload,
        work=work,
    )
    await _notify_low_stock(jobs, crossings)
    return answer


async def transfer(
    *,
    session: AsyncSession,
    data: TransferCreate,
    actor: User,
    idempotency_key: str | None = None,
    jobs: JobQueue | None = None,
) -> Answer:
    """W4: transfer_out and transfer_in together or not at all."""
    actor_id = actor.id

    async def work() -> Answer:
        product, (source, target) = await ledger.lock_product(
            session, data.product_id, [data.from_location_id, data.to_location_id]
        )
        if source is None:
            raise exc.location_not_found(data.from_location_id)
        if target is None:
            raise exc.location_not_found(data.to_location_id)
        if product.is_archived:
            raise exc.product_archived(product.id)
        ledger.check_quantity(product, data.quantity)
        levels = await ledger.read_levels(session, [product.id])
        postings = [
            ledger.Posting(product.id, source, "transfer_out", data.quantity, data.reason, data.reference),
            ledger.Posting(product.id, target, "transfer_in", data.quantity, data.reason, data.reference),
        ]
        planned = ledger.plan(postings, levels)
        transfer_id = str(uuid.uuid4())
        posted = await ledger.write(
            session,
            products={product.id: product},
            planned=planned,
            levels=levels,
            user_id=actor_id,
            now=utcnow(),
            idempotency_key=idempotency_key,
            transfer_id=transfer_id,
        )
        body = TransferPublic(
            transfer_id=transfer_id,
            product_id=product.id,
            from_location_id=source,
            to_location_id=target,
            quantity=data.quantity,
            movements=[_movement_public(r) for r in posted.rows],
        )
        return Answer(201, _json(body))

    payload = _jsonable(data.model_dump())
    return await _idempotent(
        session,
        user_id=actor_id,
        endpoint="POST /stock-movements/transfer",
        key=idempotency_key,
        payload=payload,
        work=work,
    )


async def get_movement(*, session: AsyncSession, movement_id: int) -> MovementPublic:
    row = (await session.execute(select(MOVEMENTS).where(MOVEMENTS.c.id == movement_id))).one_or_none()
    if row is None:
        raise exc.movement_not_found()
    return _movement_public(row)


async def list_movements(
    *,
    session: AsyncSession,
    limit: int,
    offset: int,
    product_id: int | None = None,
    location_id: int | None = None,
    movement_type: str | None = None,
    user_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Page[MovementPublic]:
    where = []
    if product_id is not None:
        where.append(MOVEMENTS.c.product_id == product_id)
    if location_id is not None:
        where.append(MOVEMENTS.c.location_id == location_id)
    if movement_type is not None:
        where.append(MOVEMENTS.c.movement_type == movement_type)
    if user_id is not None:
        where.append(MOVEMENTS.c.user_id == user_id)
    if since is not None:
        where.append(MOVEMENTS.c.created_at >= since)
    if until is not None:
        where.append(MOVEMENTS.c.created_at < until)
    total = await session.scalar(select(func.count()).select_from(MOVEMENTS).where(*where)) or 0
    rows = await session.execute(
        select(MOVEMENTS).where(*where).order_by(MOVEMENTS.c.id.desc()).limit(limit).offset(offset)
    )
    return _page([_movement_public(r) for r in rows], total, limit, offset)


# --- inventory checks


async def _check_public(session: AsyncSession, check_id: int) -> CheckPublic:
    row = (await session.execute(select(CHECKS).where(CHECKS.c.id == check_id))).one_or_none()
    if row is None:
        raise exc.check_not_found()
    lines = await session.execute(
        select(LINES.c.product_id, LINES.c.actual_quantity, LINES.c.expected_quantity, LINES.c.movement_id)
        .where(LINES.c.check_id == check_id)
        .order_by(LINES.c.product_id)
    )
    return CheckPublic(
        **{k: v for k, v in row._mapping.items()},
        lines=[
            CheckLinePublic(
                product_id=line.product_id,
                actual_quantity=line.actual_quantity,
                expected_quantity=line.expected_quantity,
                difference=None
                if line.expected_quantity is None
                else line.actual_quantity - line.expected_quantity,
                movement_id=line.movement_id,
            )
            for line in lines
        ],
    )


async def get_check(*, session: AsyncSession, check_id: int) -> CheckPublic:
    return await _check_public(session, check_id)


async def list_checks(
    *,
    session: AsyncSession,
    limit: int,
    offset: int,
    status: str | None = None,
    location_id: int | None = None,
) -> Page[CheckSummary]:
    where = []
    if status is not None:
        where.append(CHECKS.c.status == status)
    if location_id is not None:
        where.append(CHECKS.c.location_id == location_id)
    total = await session.scalar(select(func.count()).select_from(CHECKS).where(*where)) or 0
    count = select(func.count()).where(LINES.c.check_id == CHECKS.c.id).scalar_subquery()
    rows = await session.execute(
        select(
            CHECKS.c.id,
            CHECKS.c.status,
            CHECKS.c.location_id,
            CHECKS.c.note,
            CHECKS.c.created_by,
            CHECKS.c.confirmed_by,
            CHECKS.c.created_at,
            CHECKS.c.confirmed_at,
            count.label("line_count"),
        )
        .where(*where)
        .order_by(CHECKS.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return _page([CheckSummary.model_validate(dict(r._mapping)) for r in rows], total, limit, offset)


async def create_check(
    *, session: AsyncSession, data: CheckCreate, actor: User, idempotency_key: str | None = None
) -> Answer:
    actor_id = actor.id

    async def work() -> Answer:
        location_id = await _require_location(session, data.location_id)
        result = await session.execute(
            insert(CHECKS).values(
                status="open",
                location_id=location_id,
                note=data.note,
                created_by=actor_id,
                created_at=utcnow(),
            )
        )
        check_id = result.inserted_primary_key[0]  # type: ignore[index]
        return Answer(201, _json(await _check_public(session, check_id)))

    return await _idempotent(
        session,
        user_id=actor_id,
        endpoint="POST /inventory-checks",
        key=idempotency_key,
        payload=data.model_dump(),
        work=work,
    )


async def _lock_check(session: AsyncSession, check_id: int) -> Any:
    row = await lock_row(session, CHECKS, check_id, columns=CHECKS.c)
    if row is None:
        raise exc.check_not_found()
    return row


async def set_check_lines(
    *, session: AsyncSession, check_id: int, data: CheckLines, actor: User
) -> CheckPublic:
    """Replace the counted lines of an open check (PUT: the same body twice is the same state)."""

    async def work() -> CheckPublic:
        check = await _lock_check(session, check_id)
        if check.status != "open":
            raise exc.check_not_open(check.status)
        ids = [line.product_id for line in data.lines]
        products: dict[int, Any] = {}
        if ids:
            rows = await session.execute(
                select(PRODUCTS.c.id, PRODUCTS.c.unit, PRODUCTS.c.is_archived).where(PRODUCTS.c.id.in_(ids))
            )
            products = {r.id: r for r in rows}
        for line in data.lines:
            product = products.get(line.product_id)
            if product is None:
                raise exc.product_not_found(line.product_id)
            if product.is_archived:
                raise exc.product_archived(line.product_id)
            if not fits_unit(line.actual_quantity, product.unit):
                raise exc.invalid_quantity(
                    product.unit, f"lines[product_id={line.product_id}].actual_quantity"
                )
        await session.execute(delete(LINES).where(LINES.c.check_id == check_id))
        if data.lines:
            await (await session.connection()).execute(
                insert(LINES),
                [
                    {
                        "check_id": check_id,
                        "product_id": line.product_id,
                        "actual_quantity": line.actual_quantity,
                    }
                    for line in data.lines
                ],
            )
        await session.commit()
        return await _check_public(session, check_id)

    return await _retrying(session, work)


async def confirm_check(
    *, session: AsyncSession, check_id: int, actor: User, jobs: JobQueue | None = None
) -> CheckPublic:
    """W6: expected = the level now; each difference becomes an adjustment. Idempotent."""
    actor_id = actor.id
    crossings: list[tuple[int, int]] = []

    async def work() -> CheckPublic:
        crossings.clear()
        check = await _lock_check(session, check_id)
        if check.status == "confirmed":
            await session.rollback()
            return await _check_public(session, check_id)
        if check.status != "open":
            raise exc.check_not_open(check.status)
        lines = (
            await session.execute(
                select(LINES.c.id, LINES.c.product_id, LINES.c.actual_quantity)
                .where(LINES.c.check_id == check_id)
                .order_by(LINES.c.product_id)
            )
        ).all()
        now = utcnow()
        if lines:
            products = await ledger.lock_products(session, [line.product_id for line in lines])
            for line in lines:
                product = products[line.product_id]
                if product.is_archived:
                    raise exc.product_archived(product.id)
                ledger.check_quantity(product, line.actual_quantity, "actual_quantity")
            levels = await ledger.read_levels(session, products)
            expected = {
                line.id: levels.get((line.product_id, check.location_id), Decimal(0)) for line in lines
            }
            postings = [
                ledger.Posting(
                    line.product_id,
                    check.location_id,
                    "adjustment",
                    line.actual_quantity - expected[line.id],
                    reason=f"Inventory check #{check_id}",
                    check_id=check_id,
                )
                for line in lines
                if line.actual_quantity != expected[line.id]
            ]
            planned = ledger.plan(postings, levels)
            posted = await ledger.write(
                session, products=products, planned=planned, levels=levels, user_id=actor_id, now=now
            )
            crossings.extend(posted.crossings)
            movement_of = {row["product_id"]: row["id"] for row in posted.rows}
            await (await session.connection()).execute(
                update(LINES)
                .where(LINES.c.id == bindparam("line_id"))
                .values(expected_quantity=bindparam("expected"), movement_id=bindparam("movement")),
                [
                    {
                        "line_id": line.id,
                        "expected": expected[line.id],
                        "movement": movement_of.get(line.product_id),
                    }
                    for line in lines
                ],
            )
        await session.execute(
            update(CHECKS)
            .where(CHECKS.c.id == check_id)
            .values(status="confirmed", confirmed_by=actor_id, confirmed_at=now)
        )
        await session.commit()
        return await _check_public(session, check_id)

    result = await _retrying(session, work)
    await _notify_low_stock(jobs, crossings)
    return result


async def cancel_check(*, session: AsyncSession, check_id: int, actor: User) -> CheckPublic:
    actor_id = actor.id

    async def work() -> CheckPublic:
        check = await _lock_check(session, check_id)
        if check.status == "confirmed":
            raise exc.check_not_open("confirmed")
        if check.status == "open":
            await session.execute(
                update(CHECKS)
                .where(CHECKS.c.id == check_id)
                .values(status="cancelled", cancelled_by=actor_id, cancelled_at=utcnow())
            )
            await session.commit()
        else:
            await session.rollback()
        return await _check_public(session, check_id)

    return await _retrying(session, work)


# --- reports


def low_stock_condition(total: Any) -> Any:
    return and_(PRODUCTS.c.is_archived == False, total < PRODUCTS.c.min_quantity)  # noqa: E712


def overstock_condition(total: Any) -> Any:
    return and_(
        PRODUCTS.c.is_archived == False,  # noqa: E712
        PRODUCTS.c.max_quantity.is_not(None),
        total > PRODUCTS.c.max_quantity,
    )


async def low_stock(*, session: AsyncSession) -> list[ProductPublic]:
    total = _total_of(PRODUCTS.c.id)
    rows = await session.execute(
        _product_select(total).where(low_stock_condition(total)).order_by(PRODUCTS.c.name)
    )
    return [_product_public(r) for r in rows]


async def overstock(*, session: AsyncSession) -> list[ProductPublic]:
    total = _total_of(PRODUCTS.c.id)
    rows = await session.execute(
        _product_select(total).where(overstock_condition(total)).order_by(PRODUCTS.c.name)
    )
    return [_product_public(r) for r in rows]


STOCK_COLUMNS = ("product_id", "sku", "name", "location_id", "location", "quantity", "unit")


async def stock_rows(*, session: AsyncSession, location_id: int | None = None) -> list[tuple[Any, ...]]:
    """Every level of every active product (zero ones too), and archived products still in stock."""
    stmt = (
        select(
            PRODUCTS.c.id,
            PRODUCTS.c.sku,
            PRODUCTS.c.name,
            LEVELS.c.location_id,
            LOCATIONS.c.name,
            LEVELS.c.quantity,
            PRODUCTS.c.unit,
        )
        .select_from(LEVELS.join(PRODUCTS, PRODUCTS.c.id == LEVELS.c.product_id))
        .join(LOCATIONS, LOCATIONS.c.id == LEVELS.c.location_id)
        .where(or_(PRODUCTS.c.is_archived == False, LEVELS.c.quantity != 0))  # noqa: E712
        .order_by(PRODUCTS.c.sku, LOCATIONS.c.name, LEVELS.c.location_id)
    )
    if location_id is not None:
        stmt = stmt.where(LEVELS.c.location_id == location_id)
    result = await session.execute(stmt)
    return [tuple(r) for r in result]


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


async def purge_idempotency_keys(*, session: AsyncSession, older_than_days: int) -> int:
    return await KEYS.purge(session, older_than_days=older_than_days)
