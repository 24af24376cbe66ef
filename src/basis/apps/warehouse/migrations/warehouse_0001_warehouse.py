"""warehouse: catalogue, locations, stock ledger and levels, inventory checks, idempotency keys

Revision ID: warehouse_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db
from basis.apps.warehouse.types import Quantity

revision = "warehouse_0001"
down_revision = None
branch_labels = ("warehouse",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["locations.id"],
            name=op.f("fk_locations_parent_id_locations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("is_default", name=op.f("uq_locations_is_default")),
        sa.UniqueConstraint("parent_id", "name", name=op.f("uq_locations_parent_id_name")),
    )
    op.create_index(op.f("ix_locations_parent_id"), "locations", ["parent_id"])

    op.create_table(
        "warehouse_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["warehouse_categories.id"],
            name=op.f("fk_warehouse_categories_parent_id_warehouse_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_categories")),
        sa.UniqueConstraint("parent_id", "name", name=op.f("uq_warehouse_categories_parent_id_name")),
    )
    op.create_index(op.f("ix_warehouse_categories_parent_id"), "warehouse_categories", ["parent_id"])

    op.create_table(
        "inventory_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("cancelled_by", sa.Integer(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", basis.core.db.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", basis.core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cancelled_by"],
            ["users.id"],
            name=op.f("fk_inventory_checks_cancelled_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"],
            ["users.id"],
            name=op.f("fk_inventory_checks_confirmed_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_inventory_checks_created_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_inventory_checks_location_id_locations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_checks")),
    )
    op.create_index(op.f("ix_inventory_checks_location_id"), "inventory_checks", ["location_id"])
    op.create_index(op.f("ix_inventory_checks_status"), "inventory_checks", ["status"])

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("qr_code", sa.String(length=255), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("min_quantity", Quantity(), nullable=False),
        sa.Column("max_quantity", Quantity(), nullable=True),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["warehouse_categories.id"],
            name=op.f("fk_products_category_id_warehouse_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("barcode", name=op.f("uq_products_barcode")),
        sa.UniqueConstraint("qr_code", name=op.f("uq_products_qr_code")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    op.create_index(op.f("ix_products_category_id"), "products", ["category_id"])
    op.create_index(op.f("ix_products_name"), "products", ["name"])

    op.create_table(
        "warehouse_idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_warehouse_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_idempotency_keys")),
        sa.UniqueConstraint(
            "user_id", "endpoint", "key", name=op.f("uq_warehouse_idempotency_keys_user_id_endpoint_key")
        ),
    )
    op.create_index(
        op.f("ix_warehouse_idempotency_keys_created_at"), "warehouse_idempotency_keys", ["created_at"]
    )

    op.create_table(
        "stock_levels",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("quantity", Quantity(), nullable=False),
        sa.Column("updated_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_stock_levels_location_id_locations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_stock_levels_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("product_id", "location_id", name=op.f("pk_stock_levels")),
    )
    op.create_index(op.f("ix_stock_levels_location_id"), "stock_levels", ["location_id"])

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("movement_type", sa.String(length=20), nullable=False),
        sa.Column("quantity", Quantity(), nullable=False),
        sa.Column("balance_after", Quantity(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("transfer_id", sa.String(length=36), nullable=True),
        sa.Column("check_id", sa.Integer(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["inventory_checks.id"],
            name=op.f("fk_stock_movements_check_id_inventory_checks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_stock_movements_location_id_locations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_stock_movements_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_stock_movements_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index(op.f("ix_stock_movements_check_id"), "stock_movements", ["check_id"])
    op.create_index("ix_stock_movements_created_at", "stock_movements", ["created_at"])
    op.create_index(op.f("ix_stock_movements_location_id"), "stock_movements", ["location_id"])
    op.create_index(
        "ix_stock_movements_product_location_id", "stock_movements", ["product_id", "location_id", "id"]
    )
    op.create_index(op.f("ix_stock_movements_transfer_id"), "stock_movements", ["transfer_id"])
    op.create_index(op.f("ix_stock_movements_user_id"), "stock_movements", ["user_id"])

    op.create_table(
        "inventory_check_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("expected_quantity", Quantity(), nullable=True),
        sa.Column("actual_quantity", Quantity(), nullable=False),
        sa.Column("movement_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["inventory_checks.id"],
            name=op.f("fk_inventory_check_lines_check_id_inventory_checks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["stock_movements.id"],
            name=op.f("fk_inventory_check_lines_movement_id_stock_movements"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_inventory_check_lines_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_check_lines")),
        sa.UniqueConstraint(
            "check_id", "product_id", name=op.f("uq_inventory_check_lines_check_id_product_id")
        ),
    )
    op.create_index(op.f("ix_inventory_check_lines_product_id"), "inventory_check_lines", ["product_id"])

    # The default location (W6, movements without location_id). Also recreated on first use
    # should it ever be missing (service.ensure_default_location).
    locations = sa.table("locations", sa.column("name", sa.String), sa.column("is_default", sa.Boolean))
    op.bulk_insert(locations, [{"name": "Main warehouse", "is_default": True}])


def downgrade() -> None:
    for table in (
        "inventory_check_lines",
        "stock_movements",
        "stock_levels",
        "warehouse_idempotency_keys",
        "products",
        "inventory_checks",
        "warehouse_categories",
        "locations",
    ):
        op.drop_table(table)
