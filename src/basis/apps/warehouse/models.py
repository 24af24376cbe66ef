"""Warehouse tables: catalogue, locations, the stock ledger and its levels, inventory checks."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column

from basis.apps.warehouse.types import Quantity
from basis.core.db import Base, UTCDateTime
from basis.core.idempotency import IdempotencyRecord
from basis.core.time import utcnow

MOVEMENT_TYPES = ("incoming", "outgoing", "adjustment", "transfer_out", "transfer_in")
INBOUND_TYPES = ("incoming", "transfer_in")
OUTBOUND_TYPES = ("outgoing", "transfer_out")
CHECK_STATUSES = ("open", "confirmed", "cancelled")


def new_qr_code() -> str:
    return f"product:{uuid.uuid4()}"


class Category(Base):
    # exchange.md claims a `categories` table of its own, hence the prefix.
    __tablename__ = "warehouse_categories"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("warehouse_categories.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    description: Mapped[str | None] = mapped_column(Text, nullable=True)

    def __str__(self) -> str:
        return self.name


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("parent_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_default: Mapped[bool | None] = mapped_column(Boolean, nullable=True, unique=True)
    """True for the one default location, NULL (never False) for the others: the unique
    constraint then admits exactly one default on every backend."""

    def __str__(self) -> str:
        return self.name


REPORT_INDEX = "ix_products_report"
"""Products by SKU with every product column the stock report reads: MariaDB's report walks it in
order without a lookup per product (``stock.stock_select``)."""


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (Index(REPORT_INDEX, "sku", "name", "unit", "is_archived"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    qr_code: Mapped[str] = mapped_column(String(255), unique=True, default=new_qr_code)
    barcode: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("warehouse_categories.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    unit: Mapped[str] = mapped_column(String(8), default="pcs")
    min_quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    max_quantity: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StockLevel(Base):
    """What the ledger adds up to per (product, location); written only by the ledger."""

    __tablename__ = "stock_levels"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), primary_key=True)
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(0))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InventoryCheck(Base):
    __tablename__ = "inventory_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    confirmed_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=True
    )
    cancelled_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __str__(self) -> str:
        return f"check #{self.id} ({self.status})"


class StockMovement(Base):
    """One ledger entry. Never updated, never deleted: a mistake is corrected by a new entry."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_product_location_id", "product_id", "location_id", "id"),
        Index("ix_stock_movements_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    movement_type: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    """Positive, except an adjustment's, which carries its own sign."""
    balance_after: Mapped[Decimal] = mapped_column(Quantity)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    transfer_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    """Shared by the two entries of one transfer."""
    check_id: Mapped[int | None] = mapped_column(
        ForeignKey("inventory_checks.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return f"#{self.id} {self.movement_type} {self.quantity}"


class InventoryCheckLine(Base):
    __tablename__ = "inventory_check_lines"
    __table_args__ = (UniqueConstraint("check_id", "product_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("inventory_checks.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    expected_quantity: Mapped[Decimal | None] = mapped_column(Quantity, nullable=True)
    """The stock level at confirmation; empty while the check is open."""
    actual_quantity: Mapped[Decimal] = mapped_column(Quantity)
    movement_id: Mapped[int | None] = mapped_column(
        ForeignKey("stock_movements.id", ondelete="RESTRICT"), nullable=True
    )


class IdempotencyKey(IdempotencyRecord, Base):
    """The first answer to a request carrying an ``Idempotency-Key``, replayed to its retries:
    one per user, endpoint and key."""

    __tablename__ = "warehouse_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "endpoint", "key"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(100))


# Total over all locations, for the admin panel (the API computes it in its own queries).
Product.current_quantity = column_property(  # type: ignore[attr-defined]
    select(func.coalesce(func.sum(StockLevel.quantity), 0))
    .where(StockLevel.product_id == Product.id)
    .correlate_except(StockLevel)
    .scalar_subquery(),
    deferred=True,
)
