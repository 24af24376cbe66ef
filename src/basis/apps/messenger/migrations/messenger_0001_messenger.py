"""messenger: chats, members, messages, edits, receipts, uploads, attachments, send keys

Revision ID: messenger_0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import basis.core.db

revision = "messenger_0001"
down_revision = None
branch_labels = ("messenger",)
depends_on = ("identity_0001",)

UTC = basis.core.db.UTCDateTime


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "messenger_chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("dialog_key", sa.String(length=40), nullable=True),
        _fk("messenger_chats", "created_by", "users", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_chats")),
        sa.UniqueConstraint("dialog_key", name=op.f("uq_messenger_chats_dialog_key")),
    )
    op.create_index(op.f("ix_messenger_chats_created_by"), "messenger_chats", ["created_by"])

    op.create_table(
        "messenger_chat_members",
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("joined_at", UTC(), nullable=False),
        sa.Column("last_read_message_id", sa.Integer(), nullable=True),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.Column("last_mailed_at", UTC(), nullable=True),
        _fk("messenger_chat_members", "chat_id", "messenger_chats", "CASCADE"),
        _fk("messenger_chat_members", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_messenger_chat_members")),
    )
    op.create_index(
        "ix_messenger_chat_members_user_id_chat_id", "messenger_chat_members", ["user_id", "chat_id"]
    )

    op.create_table(
        "messenger_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("client_id", basis.core.db.ExactString(length=200), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("edited_at", UTC(), nullable=True),
        sa.Column("deleted_at", UTC(), nullable=True),
        _fk("messenger_messages", "chat_id", "messenger_chats", "CASCADE"),
        _fk("messenger_messages", "sender_id", "users", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_messages")),
        sa.UniqueConstraint("sender_id", "client_id", name=op.f("uq_messenger_messages_sender_id_client_id")),
    )
    op.create_index("ix_messenger_messages_chat_id_id", "messenger_messages", ["chat_id", "id"])
    op.create_index(op.f("ix_messenger_messages_sender_id"), "messenger_messages", ["sender_id"])

    op.create_table(
        "messenger_message_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("edited_at", UTC(), nullable=False),
        _fk("messenger_message_edits", "message_id", "messenger_messages", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_message_edits")),
    )
    op.create_index(op.f("ix_messenger_message_edits_message_id"), "messenger_message_edits", ["message_id"])

    op.create_table(
        "messenger_message_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", UTC(), nullable=True),
        sa.Column("read_at", UTC(), nullable=True),
        _fk("messenger_message_receipts", "message_id", "messenger_messages", "CASCADE"),
        _fk("messenger_message_receipts", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_message_receipts")),
        sa.UniqueConstraint(
            "message_id", "user_id", name=op.f("uq_messenger_message_receipts_message_id_user_id")
        ),
    )
    op.create_index(op.f("ix_messenger_message_receipts_user_id"), "messenger_message_receipts", ["user_id"])

    op.create_table(
        "messenger_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        _fk("messenger_uploads", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_uploads")),
        sa.UniqueConstraint("object_key", name=op.f("uq_messenger_uploads_object_key")),
    )
    op.create_index(op.f("ix_messenger_uploads_user_id"), "messenger_uploads", ["user_id"])

    op.create_table(
        "messenger_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        _fk("messenger_attachments", "message_id", "messenger_messages", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_attachments")),
        sa.UniqueConstraint("object_key", name=op.f("uq_messenger_attachments_object_key")),
    )
    op.create_index(op.f("ix_messenger_attachments_message_id"), "messenger_attachments", ["message_id"])

    op.create_table(
        "messenger_send_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", basis.core.db.ExactString(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _fk("messenger_send_keys", "user_id", "users", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messenger_send_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_messenger_send_keys_user_id_key")),
    )
    op.create_index(op.f("ix_messenger_send_keys_created_at"), "messenger_send_keys", ["created_at"])


def downgrade() -> None:
    for table in (
        "messenger_send_keys",
        "messenger_attachments",
        "messenger_uploads",
        "messenger_message_receipts",
        "messenger_message_edits",
        "messenger_messages",
        "messenger_chat_members",
        "messenger_chats",
    ):
        op.drop_table(table)
