"""example: idempotency keys of the core's mechanism

Revision ID: example_0002
Revises: example_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "example_0002"
down_revision = "example_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "example_idempotency_keys",
        sa.Column("sender", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example_idempotency_keys")),
        sa.UniqueConstraint("sender", "key", name=op.f("uq_example_idempotency_keys_sender_key")),
    )
    op.create_index(
        op.f("ix_example_idempotency_keys_created_at"), "example_idempotency_keys", ["created_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_example_idempotency_keys_created_at"), table_name="example_idempotency_keys")
    op.drop_table("example_idempotency_keys")
