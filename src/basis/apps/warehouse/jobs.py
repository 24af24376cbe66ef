"""W7: the mail to admins when a product's stock falls below its minimum."""

from __future__ import annotations

from sqlalchemy import select

from basis.apps.warehouse.models import Location, Product, StockLevel, StockMovement
from basis.apps.warehouse.settings import WarehouseSettings
from basis.apps.warehouse.types import as_number
from basis.core.jobs import JobContext, job
from basis.core.logging import get_logger
from basis.identity.models import User

log = get_logger("basis.warehouse.jobs")


@job("warehouse.low_stock_mail", retries=5)
async def low_stock_mail(ctx: JobContext, *, product_id: int, movement_id: int) -> None:
    """Sent once per crossing: the job key names the movement that crossed."""
    if not ctx.settings.app(WarehouseSettings).low_stock_mail:
        return
    async with ctx.sessionmaker() as session:
        product = await session.get(Product, product_id)
        movement = await session.get(StockMovement, movement_id)
        if product is None or movement is None:
            log.warning("warehouse_low_stock_mail_gone", product_id=product_id, movement_id=movement_id)
            return
        levels = (
            await session.execute(
                select(Location.name, StockLevel.quantity)
                .join(Location, Location.id == StockLevel.location_id)
                .where(StockLevel.product_id == product_id)
                .order_by(Location.name)
            )
        ).all()
        admins = (
            await session.scalars(
                select(User.email).where(User.role == "admin", User.is_active, User.email.is_not(None))
            )
        ).all()
    if not admins:
        log.warning("warehouse_low_stock_no_admin", product_id=product_id)
        return
    total = sum((q for _, q in levels), start=product.min_quantity * 0)
    where = "\n".join(f"  {name}: {as_number(q)} {product.unit}" for name, q in levels) or "  (nowhere)"
    subject = f"Low stock: {product.sku} {product.name}"[:200]
    text = (
        f"{product.name} (SKU {product.sku}) fell below its minimum of {as_number(product.min_quantity)} "
        f"{product.unit}.\n\nNow in stock: {as_number(total)} {product.unit}\n{where}\n\n"
        f"Movement #{movement.id} ({movement.movement_type}, {as_number(movement.quantity)} {product.unit}) "
        f"at {movement.created_at:%Y-%m-%d %H:%M} UTC crossed the minimum.\n"
        f"{ctx.settings.public_url.rstrip('/')}/admin\n"
    )
    await ctx.mailer.send(list(admins), subject.replace("\n", " "), text)
