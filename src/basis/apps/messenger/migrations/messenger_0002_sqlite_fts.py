"""messenger: SQLite FTS5 index of message text (other backends: nothing)

Revision ID: messenger_0002
Revises: messenger_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "messenger_0002"
down_revision = "messenger_0001"
branch_labels = None
depends_on = None

# An external-content FTS5 table over messenger_messages, kept by triggers. unicode61 folds case
# and splits on everything but letters and digits: words match whole, as on PostgreSQL.
UPGRADE = (
    "CREATE VIRTUAL TABLE messenger_messages_fts USING fts5("
    "text, content='messenger_messages', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER messenger_messages_fts_ai AFTER INSERT ON messenger_messages BEGIN "
    "INSERT INTO messenger_messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messenger_messages_fts_ad AFTER DELETE ON messenger_messages BEGIN "
    "INSERT INTO messenger_messages_fts(messenger_messages_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER messenger_messages_fts_au AFTER UPDATE OF text ON messenger_messages BEGIN "
    "INSERT INTO messenger_messages_fts(messenger_messages_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO messenger_messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO messenger_messages_fts(messenger_messages_fts) VALUES ('rebuild')",
)
DOWNGRADE = (
    "DROP TRIGGER IF EXISTS messenger_messages_fts_au",
    "DROP TRIGGER IF EXISTS messenger_messages_fts_ad",
    "DROP TRIGGER IF EXISTS messenger_messages_fts_ai",
    "DROP TABLE IF EXISTS messenger_messages_fts",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWNGRADE:
            op.execute(statement)
