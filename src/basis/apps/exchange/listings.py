"""Listing items: create in batches (all or nothing), change, archive, list and browse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import categories, profiles
from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.models import Ban, Listing, ListingItem, UserCity
from basis.apps.exchange.schemas import BrowsePage, ItemCreate, ItemPublic, ItemUpdate, ListingCreate
from basis.core.db import lock_row
from basis.core.time import utcnow
from basis.identity.models import User

MAX_PER_CATEGORY = 10
MAX_PER_USER = 50


def public(item: ListingItem) -> ItemPublic:
    return ItemPublic(
        id=item.id,
        user_id=item.user_id,
        item_type=item.item_type,
        category=item.category,
        exchange_type=item.exchange_type,
        item_name=item.item_name,
        value_tenge=item.value_tenge,
        duration_days=item.duration_days,
        daily_rate=item.daily_rate,
        description=item.description,
        created_at=item.created_at,
        archived_at=item.archived_at,
    )


def _check_duration(exchange_type: str, days: int | None, loc: tuple[Any, ...]) -> None:
    if exchange_type == "temporary" and days is None:
        raise exc.invalid((*loc, "duration_days"), "duration_days is required for a temporary item")
    if exchange_type == "permanent" and days is not None:
        raise exc.invalid((*loc, "duration_days"), "a permanent item has no duration_days")


def _batch(data: ListingCreate) -> list[tuple[str, str, int, ItemCreate]]:
    return [
        (item_type, slug, index, item)
        for item_type, groups in (("want", data.wants), ("offer", data.offers))
        for slug, items in groups.items()
        for index, item in enumerate(items)
    ]


def _limit_message(item_type: str, slug: str) -> str:
    return f"At most {MAX_PER_CATEGORY} active {item_type}s per category ({slug})"


async def active_counts(session: AsyncSession, user_id: int) -> Counter[tuple[str, str]]:
    rows = await session.execute(
        select(ListingItem.item_type, ListingItem.category, func.count())
        .where(ListingItem.user_id == user_id, ListingItem.archived_at.is_(None))
        .group_by(ListingItem.item_type, ListingItem.category)
    )
    return Counter({(t, c): n for t, c, n in rows})


async def create_batch(
    session: AsyncSession, *, owner_id: int, data: ListingCreate
) -> tuple[Listing, list[ListingItem], list[str]]:
    batch = _batch(data)
    if not batch:
        raise exc.invalid(("body",), "A listing needs at least one want or offer", "empty_listing")
    known = await categories.active_slugs(session)
    for item_type, slug, index, item in batch:
        loc = ("body", f"{item_type}s", slug, index)
        if (item.exchange_type, slug) not in known:
            raise exc.invalid(
                (*loc, "category"), f"Unknown {item.exchange_type} category: {slug}", "unknown_category"
            )
        _check_duration(item.exchange_type, item.duration_days, loc)
    # One writer per member at a time: the limits count what is stored plus this batch.
    if await lock_row(session, User.__table__, owner_id) is None:
        raise exc.user_not_found()
    counts = await active_counts(session, owner_id)
    counts.update((item_type, slug) for item_type, slug, _, _ in batch)
    for (item_type, slug), n in sorted(counts.items()):
        if n > MAX_PER_CATEGORY:
            raise exc.limit_exceeded(_limit_message(item_type, slug), item_type=item_type, category=slug)
    if counts.total() > MAX_PER_USER:
        raise exc.limit_exceeded(f"At most {MAX_PER_USER} active items per member", limit=MAX_PER_USER)
    if data.locations is not None:
        locations = await profiles.set_cities(session, user_id=owner_id, cities=data.locations)
    else:
        locations = await profiles.cities_of(session, owner_id)
    listing = Listing(user_id=owner_id)
    session.add(listing)
    await session.flush()
    now = utcnow()
    items = [
        ListingItem(
            listing_id=listing.id,
            user_id=owner_id,
            item_type=item_type,
            category=slug,
            exchange_type=item.exchange_type,
            item_name=item.item_name,
            value_tenge=item.value_tenge,
            duration_days=item.duration_days,
            description=item.description,
            created_at=now,
            updated_at=now,
        )
        for item_type, slug, _, item in batch
    ]
    session.add_all(items)
    await session.flush()
    return listing, items, locations


async def owned_item(session: AsyncSession, *, item_id: int, user_id: int) -> ListingItem:
    item = await session.get(ListingItem, item_id)
    if item is None:
        raise exc.item_not_found()
    if item.user_id != user_id:
        raise exc.not_yours()
    return item


async def update_item(session: AsyncSession, *, item_id: int, user_id: int, data: ItemUpdate) -> ListingItem:
    item = await owned_item(session, item_id=item_id, user_id=user_id)
    if item.archived_at is not None:
        raise exc.Conflict("The item is archived", code="item_archived")
    given = data.model_fields_set
    for name in ("item_name", "value_tenge"):
        if name in given and getattr(data, name) is None:
            raise exc.invalid(name, f"{name} cannot be null")
    days = data.duration_days if "duration_days" in given else item.duration_days
    _check_duration(item.exchange_type, days, ("body",))
    for name in ("item_name", "value_tenge", "description"):
        if name in given:
            setattr(item, name, getattr(data, name))
    item.duration_days = days
    await session.flush()
    return item


async def archive_item(session: AsyncSession, *, item_id: int, user_id: int) -> ListingItem:
    item = await owned_item(session, item_id=item_id, user_id=user_id)
    if item.archived_at is None:
        item.archived_at = utcnow()
        await session.flush()
    return item


async def archive_items(session: AsyncSession, item_ids: Sequence[int]) -> list[int]:
    """Archives the items not yet archived; the ids it archived (rows locked by the caller)."""
    if not item_ids:
        return []
    now = utcnow()
    await session.execute(
        update(ListingItem)
        .where(ListingItem.id.in_(item_ids), ListingItem.archived_at.is_(None))
        .values(archived_at=now, updated_at=now)
    )
    return sorted(item_ids)


def _visible() -> Any:
    """Active items of members who are active and not banned."""
    now = utcnow()
    banned = exists().where(
        Ban.user_id == ListingItem.user_id,
        Ban.lifted_at.is_(None),
        (Ban.ban_until.is_(None)) | (Ban.ban_until > now),
    )
    active_owner = exists().where(User.id == ListingItem.user_id, User.is_active.is_(True))
    return ListingItem.archived_at.is_(None) & ~banned & active_owner


async def active_items_of(session: AsyncSession, user_id: int) -> list[ListingItem]:
    stmt = (
        select(ListingItem)
        .where(ListingItem.user_id == user_id, ListingItem.archived_at.is_(None))
        .order_by(ListingItem.created_at.desc(), ListingItem.id.desc())
    )
    return list(await session.scalars(stmt))


async def visible_items_of(session: AsyncSession, user_id: int) -> list[ListingItem]:
    stmt = (
        select(ListingItem)
        .where(ListingItem.user_id == user_id, _visible())
        .order_by(ListingItem.created_at.desc(), ListingItem.id.desc())
    )
    return list(await session.scalars(stmt))


async def browse(
    session: AsyncSession,
    *,
    item_type: str,
    skip: int,
    limit: int,
    filters: dict[str, Any],
) -> BrowsePage:
    stmt: Select[Any] = select(ListingItem).where(ListingItem.item_type == item_type, _visible())
    if filters.get("category") is not None:
        stmt = stmt.where(ListingItem.category == filters["category"])
    if filters.get("exchange_type") is not None:
        stmt = stmt.where(ListingItem.exchange_type == filters["exchange_type"])
    if filters.get("min_price") is not None:
        stmt = stmt.where(ListingItem.value_tenge >= filters["min_price"])
    if filters.get("max_price") is not None:
        stmt = stmt.where(ListingItem.value_tenge <= filters["max_price"])
    if filters.get("city") is not None:
        stmt = stmt.where(
            exists().where(UserCity.user_id == ListingItem.user_id, UserCity.city == filters["city"])
        )
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(ListingItem.created_at.desc(), ListingItem.id.desc()).offset(skip).limit(limit)
    )
    applied = {k: v for k, v in filters.items() if v is not None}
    return BrowsePage(
        items=[public(r) for r in rows], total=total, skip=skip, limit=limit, filters_applied=applied
    )
