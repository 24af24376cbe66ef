"""core: job outbox due time

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "core_0003"
down_revision = "core_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_outbox") as batch:
        batch.add_column(sa.Column("not_before", basis.core.db.UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_job_outbox_not_before"), "job_outbox", ["not_before"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_job_outbox_not_before"), table_name="job_outbox")
    with op.batch_alter_table("job_outbox") as batch:
        batch.drop_column("not_before")
