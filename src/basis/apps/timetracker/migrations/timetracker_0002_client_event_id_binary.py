"""timetracker: client_event_id compared byte for byte on MariaDB/MySQL

Their default collation ignores case and trailing spaces, so "buf-1" and "BUF-1 " were one
id to the unique index and two to the application. A binary collation without padding
(MariaDB's utf8mb4_nopad_bin, MySQL 8's utf8mb4_0900_bin) compares them as the application does.

Revision ID: timetracker_0002
Revises: timetracker_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "timetracker_0002"
down_revision = "timetracker_0001"
branch_labels = None
depends_on = None


def _collate(*, binary: bool) -> None:
    dialect = op.get_bind().dialect
    if dialect.name != "mysql":
        return
    mariadb = getattr(dialect, "is_mariadb", False)
    if binary:
        collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
    else:
        collation = "utf8mb4_unicode_ci"
    op.alter_column(
        "events",
        "client_event_id",
        existing_type=sa.String(length=100),
        type_=mysql.VARCHAR(length=100, collation=collation),
        existing_nullable=True,
    )


def upgrade() -> None:
    _collate(binary=True)


def downgrade() -> None:
    _collate(binary=False)
