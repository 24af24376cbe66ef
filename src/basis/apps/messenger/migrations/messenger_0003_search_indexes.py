"""messenger: full-text search tables on PostgreSQL (tsvector + GIN) and MariaDB (InnoDB FULLTEXT)

Revision ID: messenger_0003
Revises: messenger_0002
Create Date: 2026-12-06

As SQLite's FTS5 table (messenger_0002): a table of its own beside messenger_messages, kept by
triggers in the same transaction as the message, so every database searches an index and the
models (and autogenerate) stay free of dialect-only index types.
"""

from __future__ import annotations

from alembic import op

revision = "messenger_0003"
down_revision = "messenger_0002"
branch_labels = None
depends_on = None

POSTGRESQL_UP = (
    # 'simple': no stemming and no stopwords, so words match whole (search.py queries the same).
    "CREATE TABLE messenger_messages_tsv ("
    " id INTEGER PRIMARY KEY REFERENCES messenger_messages (id) ON DELETE CASCADE,"
    " words tsvector NOT NULL)",
    "CREATE INDEX ix_messenger_messages_tsv_words ON messenger_messages_tsv USING gin (words)",
    "CREATE FUNCTION messenger_messages_tsv_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO messenger_messages_tsv (id, words) VALUES (NEW.id, to_tsvector('simple', NEW.text)) "
    "ON CONFLICT (id) DO UPDATE SET words = EXCLUDED.words; RETURN NULL; END $$",
    "CREATE TRIGGER messenger_messages_tsv_ai AFTER INSERT ON messenger_messages "
    "FOR EACH ROW EXECUTE FUNCTION messenger_messages_tsv_keep()",
    "CREATE TRIGGER messenger_messages_tsv_au AFTER UPDATE OF text ON messenger_messages "
    "FOR EACH ROW EXECUTE FUNCTION messenger_messages_tsv_keep()",
    "INSERT INTO messenger_messages_tsv (id, words) "
    "SELECT id, to_tsvector('simple', text) FROM messenger_messages",
)
POSTGRESQL_DOWN = (
    "DROP TRIGGER IF EXISTS messenger_messages_tsv_au ON messenger_messages",
    "DROP TRIGGER IF EXISTS messenger_messages_tsv_ai ON messenger_messages",
    "DROP FUNCTION IF EXISTS messenger_messages_tsv_keep()",
    "DROP TABLE IF EXISTS messenger_messages_tsv",
)
MARIADB_UP = (
    "CREATE TABLE messenger_messages_ft ("
    " id INTEGER NOT NULL PRIMARY KEY, text TEXT NOT NULL,"
    " FULLTEXT INDEX ix_messenger_messages_ft_text (text),"
    " CONSTRAINT fk_messenger_messages_ft_id FOREIGN KEY (id) REFERENCES messenger_messages (id)"
    " ON DELETE CASCADE) ENGINE=InnoDB",
    "CREATE TRIGGER messenger_messages_ft_ai AFTER INSERT ON messenger_messages FOR EACH ROW "
    "INSERT INTO messenger_messages_ft (id, text) VALUES (NEW.id, NEW.text) "
    "ON DUPLICATE KEY UPDATE text = NEW.text",
    "CREATE TRIGGER messenger_messages_ft_au AFTER UPDATE ON messenger_messages FOR EACH ROW "
    "UPDATE messenger_messages_ft SET text = NEW.text WHERE id = NEW.id",
    "INSERT INTO messenger_messages_ft (id, text) SELECT id, text FROM messenger_messages",
)
MARIADB_DOWN = (
    "DROP TRIGGER IF EXISTS messenger_messages_ft_au",
    "DROP TRIGGER IF EXISTS messenger_messages_ft_ai",
    "DROP TABLE IF EXISTS messenger_messages_ft",
)


def _run(postgresql: tuple[str, ...], mariadb: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    statements = postgresql if dialect == "postgresql" else mariadb if dialect in ("mysql", "mariadb") else ()
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(POSTGRESQL_UP, MARIADB_UP)


def downgrade() -> None:
    _run(POSTGRESQL_DOWN, MARIADB_DOWN)
