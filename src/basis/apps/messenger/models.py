"""Messenger tables: chats and their members, messages with edit history, receipts,
attachments, uploads presigned by a sender, and the keys of idempotent sends."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from basis.core.db import Base, ExactString, UTCDateTime
from basis.core.idempotency import IdempotencyRecord
from basis.core.time import utcnow

CHAT_TYPES = ("dialog", "group")
ROLES = ("owner", "member")
MAX_TEXT = 4096
MAX_TEMP_ID = 200


class Chat(Base):
    __tablename__ = "messenger_chats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    dialog_key: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    """``<smaller user id>:<larger user id>`` for a dialog, NULL for a group: one dialog per pair."""

    def __str__(self) -> str:
        return self.title or f"{self.type} #{self.id}"


class ChatMember(Base):
    __tablename__ = "messenger_chat_members"
    __table_args__ = (Index("ix_messenger_chat_members_user_id_chat_id", "user_id", "chat_id"),)

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("messenger_chats.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(10), default="member")
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_read_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_mailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the last offline mail for this chat left for this member (the quiet period)."""


class Message(Base):
    __tablename__ = "messenger_messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_id"),
        Index("ix_messenger_messages_chat_id_id", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("messenger_chats.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    text: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(ExactString(MAX_TEMP_ID), nullable=True)
    """The sender's temp_id: unique per sender."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MessageEdit(Base):
    """An earlier version of a message: its text and when it was replaced."""

    __tablename__ = "messenger_message_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messenger_messages.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageReceipt(Base):
    __tablename__ = "messenger_message_receipts"
    __table_args__ = (UniqueConstraint("message_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messenger_messages.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Upload(Base):
    """An object key presigned for one sender: only they may attach it, once."""

    __tablename__ = "messenger_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_key: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    __tablename__ = "messenger_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messenger_messages.id", ondelete="CASCADE"), index=True
    )
    object_key: Mapped[str] = mapped_column(String(255), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendKey(IdempotencyRecord, Base):
    """The first answer to a send with a temp_id, replayed to its repeats: one per sender and
    temp_id, over REST and the socket alike."""

    __tablename__ = "messenger_send_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    key: Mapped[str] = mapped_column(ExactString(MAX_TEMP_ID))
    """Compared byte for byte (MariaDB would otherwise take "A" and "a" for one temp_id)."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
