"""example: notes

Revision ID: example_0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "example_0001"
down_revision = None
branch_labels = ("example",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "example_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example_notes")),
    )


def downgrade() -> None:
    op.drop_table("example_notes")
