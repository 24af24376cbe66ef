"""hemoday: the family events trail (membership and settings changes, no medical values)

Revision ID: hemoday_0002
Revises: hemoday_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "hemoday_0002"
down_revision = "hemoday_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hemoday_family_events",
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", basis.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_hemoday_family_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hemoday_family_events")),
    )
    op.create_index(op.f("ix_hemoday_family_events_actor_id"), "hemoday_family_events", ["actor_id"])
    op.create_index(op.f("ix_hemoday_family_events_created_at"), "hemoday_family_events", ["created_at"])
    op.create_index(op.f("ix_hemoday_family_events_family_id"), "hemoday_family_events", ["family_id"])


def downgrade() -> None:
    # Dropping the table drops its indexes; MariaDB refuses to drop one a foreign key needs first.
    op.drop_table("hemoday_family_events")
