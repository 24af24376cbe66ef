"""warehouse: products by SKU with the stock report's columns (ix_products_report)

Revision ID: warehouse_0002
Revises: warehouse_0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "warehouse_0002"
down_revision = "warehouse_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_products_report", "products", ["sku", "name", "unit", "is_archived"])


def downgrade() -> None:
    op.drop_index("ix_products_report", table_name="products")
