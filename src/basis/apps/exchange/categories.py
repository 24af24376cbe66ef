"""Versioned categories: the shipped set is v6.0 (seeded by the migration)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import categories_data
from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.models import Category, CategoryVersion
from basis.apps.exchange.schemas import CategoriesByType, CategoriesPublic, CategoryPublic
from basis.core.db import insert_or_skip
from basis.core.time import utcnow


def exchange_type_of(value: str) -> str:
    """The original accepted any case; anything else is its 400."""
    kind = value.strip().lower()
    if kind not in ("permanent", "temporary"):
        raise exc.invalid_exchange_type()
    return kind


async def version_row(session: AsyncSession, version: str | None) -> CategoryVersion:
    stmt = select(CategoryVersion).where(CategoryVersion.is_active.is_(True))
    if version is None:
        stmt = stmt.order_by(CategoryVersion.id.desc()).limit(1)
    else:
        stmt = stmt.where(CategoryVersion.version == version)
    row = await session.scalar(stmt)
    if row is None:
        raise exc.version_not_found(version or "current")
    return row


async def _rows(session: AsyncSession, version_id: int, exchange_type: str | None = None) -> list[Category]:
    stmt = select(Category).where(Category.version_id == version_id, Category.is_active.is_(True))
    if exchange_type is not None:
        stmt = stmt.where(Category.exchange_type == exchange_type)
    return list(await session.scalars(stmt.order_by(Category.sort_order, Category.id)))


def _public(row: Category) -> CategoryPublic:
    return CategoryPublic(
        slug=row.slug, name=row.name, group=row.group_name, emoji=row.emoji, sort_order=row.sort_order
    )


async def all_categories(session: AsyncSession, *, version: str | None) -> CategoriesPublic:
    row = await version_row(session, version)
    rows = await _rows(session, row.id)
    return CategoriesPublic(
        version=row.version,
        description=row.description,
        categories=CategoriesByType(
            permanent=[_public(r) for r in rows if r.exchange_type == "permanent"],
            temporary=[_public(r) for r in rows if r.exchange_type == "temporary"],
        ),
    )


async def of_type(session: AsyncSession, *, exchange_type: str, version: str | None) -> list[CategoryPublic]:
    kind = exchange_type_of(exchange_type)
    row = await version_row(session, version)
    return [_public(r) for r in await _rows(session, row.id, kind)]


async def groups(session: AsyncSession, *, exchange_type: str, version: str | None) -> list[str]:
    return list(
        dict.fromkeys(c.group for c in await of_type(session, exchange_type=exchange_type, version=version))
    )


async def active_slugs(session: AsyncSession) -> set[tuple[str, str]]:
    """(exchange_type, slug) of the current version's active categories."""
    row = await version_row(session, None)
    return {(r.exchange_type, r.slug) for r in await _rows(session, row.id)}


async def ensure_shipped(session: AsyncSession) -> bool:
    """Seeds v6.0 when it is missing (the migration seeds it too); True when this call did.

    Idempotent across processes: the version's unique key admits one inserter, and a second
    process waits for the first one's commit and then skips."""
    if await session.scalar(
        select(CategoryVersion.id).where(CategoryVersion.version == categories_data.VERSION)
    ):
        return False
    values = {
        "version": categories_data.VERSION,
        "description": categories_data.DESCRIPTION,
        "is_active": True,
    }
    inserted = await insert_or_skip(session, CategoryVersion.__table__, {**values, "created_at": utcnow()})  # type: ignore[arg-type]
    if not inserted:
        await session.rollback()
        return False
    version_id = await session.scalar(
        select(CategoryVersion.id).where(CategoryVersion.version == categories_data.VERSION)
    )
    session.add_all(Category(version_id=version_id, **row) for row in categories_data.rows())
    await session.commit()
    return True
