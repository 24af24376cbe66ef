"""Inventory checks (W6): counted lines, then one confirmation that turns every difference
from the stock level into an adjustment, or a cancellation."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse import ledger
from basis.apps.warehouse.catalogue import require_location
from basis.apps.warehouse.models import InventoryCheck, InventoryCheckLine, Product
from basis.apps.warehouse.movements import stage_low_stock
from basis.apps.warehouse.schemas import CheckCreate, CheckLinePublic, CheckLines, CheckPublic, CheckSummary
from basis.apps.warehouse.types import fits_unit
from basis.core.db import lock_row
from basis.core.pagination import Page, PageParams
from basis.core.time import utcnow

if TYPE_CHECKING:
    from basis.core.jobs import JobQueue
    from basis.identity.models import User

PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
CHECKS: Table = InventoryCheck.__table__  # type: ignore[assignment]
LINES: Table = InventoryCheckLine.__table__  # type: ignore[assignment]


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
    items = [CheckSummary.model_validate(dict(r._mapping)) for r in rows]
    return PageParams(limit, offset).page(items, total)


async def create_check(*, session: AsyncSession, data: CheckCreate, actor_id: int) -> CheckPublic:
    """An open check at a location (the default when none is given). The caller commits."""
    location_id = await require_location(session, data.location_id)
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
    return await _check_public(session, check_id)


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

    return await ledger.retrying(session, work)


async def confirm_check(
    *, session: AsyncSession, check_id: int, actor: User, jobs: JobQueue | None = None
) -> CheckPublic:
    """W6: expected = the level now; each difference becomes an adjustment. Idempotent."""
    actor_id = actor.id

    async def work() -> CheckPublic:
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
            stage_low_stock(jobs, session, posted.crossings)
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

    return await ledger.retrying(session, work)


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

    return await ledger.retrying(session, work)
