"""The ledger's entries: transfers (W4, W5), the movements' list, and the low-stock
notification (W7) staged with a change that crossed the minimum. Single movements go through
the process's movement writer (``movement_writer``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse import ledger
from basis.apps.warehouse.models import StockMovement
from basis.apps.warehouse.schemas import MovementPublic, TransferCreate, TransferPublic
from basis.core.logging import get_logger
from basis.core.pagination import Page, PageParams

if TYPE_CHECKING:
    from basis.core.jobs import JobQueue

log = get_logger("basis.warehouse")

MOVEMENTS: Table = StockMovement.__table__  # type: ignore[assignment]
LOW_STOCK_JOB = "warehouse.low_stock_mail"


def stage_low_stock(
    jobs: JobQueue | None, session: AsyncSession, crossings: Sequence[tuple[int, int]]
) -> None:
    """One mail job per crossing, staged in the movement's own transaction: sent if and only if
    the movement commits, even when the process dies right after (``basis.core.outbox``). Its
    key names the movement, so it is sent once."""
    if jobs is None:
        return
    for product_id, movement_id in crossings:
        jobs.stage(
            session,
            LOW_STOCK_JOB,
            key=f"warehouse.low_stock:{product_id}:{movement_id}",
            product_id=product_id,
            movement_id=movement_id,
        )


def _movement_public(row: Any) -> MovementPublic:
    return MovementPublic.model_validate(row if isinstance(row, dict) else dict(row._mapping))


async def transfer(
    *, session: AsyncSession, data: TransferCreate, actor_id: int, idempotency_key: str | None = None
) -> TransferPublic:
    """W4: transfer_out and transfer_in together or not at all. The caller commits."""
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
    postings = [
        ledger.Posting(product.id, source, "transfer_out", data.quantity, data.reason, data.reference),
        ledger.Posting(product.id, target, "transfer_in", data.quantity, data.reason, data.reference),
    ]
    transfer_id = str(uuid.uuid4())
    posted = await ledger.post(
        session, product, postings, user_id=actor_id, idempotency_key=idempotency_key, transfer_id=transfer_id
    )
    return TransferPublic(
        transfer_id=transfer_id,
        product_id=product.id,
        from_location_id=source,
        to_location_id=target,
        quantity=data.quantity,
        movements=[_movement_public(r) for r in posted.rows],
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
    return PageParams(limit, offset).page([_movement_public(r) for r in rows], total)
