"""exchange: reports of chat messages, and messages removed by moderation

Revision ID: exchange_0002
Revises: exchange_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "exchange_0002"
down_revision = "exchange_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exchange_messages") as batch:
        batch.add_column(sa.Column("removed_at", basis.core.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("exchange_reports") as batch:
        batch.add_column(sa.Column("target_message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_exchange_reports_target_message_id_exchange_messages"),
            "exchange_messages",
            ["target_message_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_exchange_reports_target_message_id"), ["target_message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("exchange_reports") as batch:
        batch.drop_constraint(
            op.f("fk_exchange_reports_target_message_id_exchange_messages"), type_="foreignkey"
        )
        batch.drop_index(op.f("ix_exchange_reports_target_message_id"))
        batch.drop_column("target_message_id")
    with op.batch_alter_table("exchange_messages") as batch:
        batch.drop_column("removed_at")
