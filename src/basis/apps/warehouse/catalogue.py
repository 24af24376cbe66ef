"""The catalogue: locations, categories and products (W6's default location, SKU/QR/barcode
uniqueness, limits that fit the unit). Hot reads are Core selects."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Table, delete, exists, func, literal, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse import ledger
from basis.apps.warehouse.models import (
    Category,
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
    LevelPublic,
    LocationCreate,
    LocationPublic,
    LocationUpdate,
    ProductCreate,
    ProductPublic,
    ProductStock,
    ProductUpdate,
)
from basis.apps.warehouse.types import fits_unit, is_counted
from basis.core.db import get_or_404, insert_or_skip
from basis.core.errors import Conflict, Unprocessable
from basis.core.pagination import Page, PageParams
from basis.core.time import utcnow
from basis.core.types import is_storable

if TYPE_CHECKING:
    from basis.identity.models import User

PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
CATEGORIES: Table = Category.__table__  # type: ignore[assignment]
LOCATIONS: Table = Location.__table__  # type: ignore[assignment]
LEVELS: Table = StockLevel.__table__  # type: ignore[assignment]
MOVEMENTS: Table = StockMovement.__table__  # type: ignore[assignment]
LINES: Table = InventoryCheckLine.__table__  # type: ignore[assignment]

DEFAULT_LOCATION_NAME = "Main warehouse"


def _search(q: str | None) -> str | None:
    if q and not is_storable(q):
        raise Unprocessable("q contains characters that cannot be searched for", code="validation_error")
    return q or None


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
    return PageParams(limit, offset).page([_location_public(r) for r in rows], total)


async def get_location(*, session: AsyncSession, location_id: int) -> LocationPublic:
    row = (await session.execute(select(LOCATIONS).where(LOCATIONS.c.id == location_id))).one_or_none()
    if row is None:
        raise exc.location_not_found(location_id)
    return _location_public(row)


async def require_location(session: AsyncSession, location_id: int | None) -> int:
    if location_id is None:
        return await ensure_default_location(session)
    if await session.scalar(select(LOCATIONS.c.id).where(LOCATIONS.c.id == location_id)) is None:
        raise exc.location_not_found(location_id)
    return location_id


async def _check_sibling_name(
    session: AsyncSession, table: Table, name: str, parent_id: int | None, own_id: int | None
) -> None:
    """Locations and categories are trees whose siblings differ in name (ignoring case)."""
    stmt = select(table.c.id).where(
        func.lower(table.c.name) == name.lower(),
        table.c.parent_id.is_(None) if parent_id is None else table.c.parent_id == parent_id,
    )
    if own_id is not None:
        stmt = stmt.where(table.c.id != own_id)
    if await session.scalar(stmt) is not None:
        raise exc.duplicate_location() if table is LOCATIONS else exc.duplicate_category()


async def _make_default(session: AsyncSession, location_id: int) -> None:
    await session.execute(update(LOCATIONS).where(LOCATIONS.c.is_default == true()).values(is_default=None))
    await session.execute(update(LOCATIONS).where(LOCATIONS.c.id == location_id).values(is_default=True))


async def create_location(*, session: AsyncSession, data: LocationCreate, actor: User) -> LocationPublic:
    if data.parent_id is not None:
        await require_location(session, data.parent_id)
    await _check_sibling_name(session, LOCATIONS, data.name, data.parent_id, None)
    location = Location(name=data.name, parent_id=data.parent_id, description=data.description)
    session.add(location)
    try:
        await session.flush()
        if data.is_default:
            await _make_default(session, location.id)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise exc.duplicate_location() from None
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
        await require_location(session, fields["parent_id"])
        if location_id in await _ancestors(session, LOCATIONS, fields["parent_id"]):
            raise Unprocessable("A location cannot be inside itself", code="location_cycle")
    name = fields.get("name", location.name)
    parent_id = fields.get("parent_id", location.parent_id)
    await _check_sibling_name(session, LOCATIONS, name, parent_id, location_id)
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
        raise exc.duplicate_location() from None
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
    return PageParams(limit, offset).page(items, total)


async def get_category(*, session: AsyncSession, category_id: int) -> CategoryPublic:
    category = await get_or_404(session, Category, category_id, lambda: exc.category_not_found(category_id))
    return CategoryPublic.model_validate(category)


async def _require_category(session: AsyncSession, category_id: int) -> None:
    if await session.scalar(select(CATEGORIES.c.id).where(CATEGORIES.c.id == category_id)) is None:
        raise exc.category_not_found(category_id)


async def create_category(*, session: AsyncSession, data: CategoryCreate, actor: User) -> CategoryPublic:
    if data.parent_id is not None:
        await _require_category(session, data.parent_id)
    await _check_sibling_name(session, CATEGORIES, data.name, data.parent_id, None)
    category = Category(name=data.name, parent_id=data.parent_id, description=data.description)
    session.add(category)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise exc.duplicate_category() from None
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
    name = fields.get("name", category.name)
    parent_id = fields.get("parent_id", category.parent_id)
    await _check_sibling_name(session, CATEGORIES, name, parent_id, category_id)
    for field, value in fields.items():
        setattr(category, field, value)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise exc.duplicate_category() from None
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


def total_of(product_id: Any) -> Any:
    return (
        select(func.coalesce(func.sum(LEVELS.c.quantity), literal(Decimal(0), LEVELS.c.quantity.type)))
        .where(LEVELS.c.product_id == product_id)
        .scalar_subquery()
    )


def product_select(total: Any | None = None) -> Select[Any]:
    total = total_of(PRODUCTS.c.id) if total is None else total
    return select(*PRODUCTS.c, total.label("current_quantity"))


def product_public(row: Any) -> ProductPublic:
    return ProductPublic.model_validate(dict(row._mapping))


async def get_product(*, session: AsyncSession, product_id: int) -> ProductPublic:
    row = (await session.execute(product_select().where(PRODUCTS.c.id == product_id))).one_or_none()
    if row is None:
        raise exc.product_not_found(product_id)
    return product_public(row)


async def find_product(
    *, session: AsyncSession, qr_code: str | None = None, barcode: str | None = None
) -> ProductPublic:
    """The scan: archived products are found too (their stock can still be looked at)."""
    column, value = (PRODUCTS.c.qr_code, qr_code) if qr_code is not None else (PRODUCTS.c.barcode, barcode)
    if not value or len(value) > 255 or not is_storable(value):
        raise exc.product_not_found()
    row = (await session.execute(product_select().where(column == value))).one_or_none()
    if row is None:
        raise exc.product_not_found()
    return product_public(row)


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
    total_expr = total_of(PRODUCTS.c.id)
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
        product_select(total_expr).where(*where).order_by(PRODUCTS.c.id).limit(limit).offset(offset)
    )
    return PageParams(limit, offset).page([product_public(r) for r in rows], total)


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
    *, session: AsyncSession, data: ProductCreate, actor_id: int, idempotency_key: str | None = None
) -> ProductPublic:
    """A new product, and its initial quantity as an incoming movement at the default location.
    The caller commits (``run_once``: the product and its Idempotency-Key are stored together)."""
    fields = data.model_dump(exclude={"current_quantity"})
    _check_limits(data.unit, data.min_quantity, data.max_quantity)
    if data.current_quantity is not None and not fits_unit(data.current_quantity, data.unit):
        raise exc.invalid_quantity(data.unit, "current_quantity")
    if data.category_id is not None:
        await _require_category(session, data.category_id)
    await _check_unique(session, fields, None)
    product = Product(**{k: v for k, v in fields.items() if v is not None or k in ("description", "barcode")})
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
        initial = ledger.Posting(
            product.id, location_id, "incoming", data.current_quantity, reason="Initial stock"
        )
        await ledger.post(
            session, locked, [initial], user_id=actor_id, idempotency_key=idempotency_key, levels={}
        )
    row = (await session.execute(product_select().where(PRODUCTS.c.id == product.id))).one()
    return product_public(row)


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
        return await ledger.retrying(session, work)
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
