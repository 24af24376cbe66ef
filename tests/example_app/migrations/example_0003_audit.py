"""example: an audit trail of the core's columns

Revision ID: example_0003
Revises: example_0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "example_0003"
down_revision = "example_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "example_audit_log",
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_example_audit_log")),
    )
    op.create_index(op.f("ix_example_audit_log_created_at"), "example_audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_example_audit_log_created_at"), table_name="example_audit_log")
    op.drop_table("example_audit_log")
