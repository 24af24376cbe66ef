"""Exchange tables: cities, versioned categories, listing items, exchanges (pairs and chains)
with their participants and history, notifications, chat, reviews, reports and bans."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from basis.core.db import Base, UTCDateTime
from basis.core.time import utcnow

CITIES = ("Алматы", "Астана", "Шымкент")
EXCHANGE_TYPES = ("permanent", "temporary")
ITEM_TYPES = ("want", "offer")
KINDS = ("pair", "chain")
STATUSES = ("proposed", "active", "completed", "declined", "cancelled")
OPEN_STATUSES = ("proposed", "active")
DECISIONS = ("pending", "accepted", "declined")
EVENT_TYPES = ("created", "accepted", "declined", "confirmed", "completed", "cancelled")


def new_exchange_id() -> str:
    """Opaque and URL-safe: an exchange's id says nothing about how many there are."""
    return secrets.token_urlsafe(12)


def _user_fk(ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey("users.id", ondelete=ondelete)


class UserCity(Base):
    """A city where a member exchanges (1-3 per member). A member without cities is never matched."""

    __tablename__ = "exchange_user_cities"

    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    city: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)


class CategoryVersion(Base):
    __tablename__ = "category_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(20), unique=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.version


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("version_id", "exchange_type", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("category_versions.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    group_name: Mapped[str] = mapped_column(String(200))
    emoji: Mapped[str] = mapped_column(String(16))
    exchange_type: Mapped[str] = mapped_column(String(10))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    def __str__(self) -> str:
        return f"{self.exchange_type}/{self.slug}"


class Listing(Base):
    """One create-by-categories call: the batch its items were stored in."""

    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListingItem(Base):
    __tablename__ = "listing_items"
    __table_args__ = (
        Index("ix_listing_items_user_id_archived_at", "user_id", "archived_at"),
        Index("ix_listing_items_item_type_archived_at_created_at", "item_type", "archived_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(_user_fk())
    item_type: Mapped[str] = mapped_column(String(5))
    category: Mapped[str] = mapped_column(String(50))
    exchange_type: Mapped[str] = mapped_column(String(10))
    item_name: Mapped[str] = mapped_column(String(100))
    value_tenge: Mapped[int] = mapped_column(Integer)
    duration_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def daily_rate(self) -> float | None:
        if self.exchange_type != "temporary" or not self.duration_days:
            return None
        return round(self.value_tenge / self.duration_days, 2)

    def __str__(self) -> str:
        return f"#{self.id} {self.item_type} {self.item_name}"


class Exchange(Base):
    """A proposed swap: a pair or a chain, whatever its status."""

    __tablename__ = "exchanges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_exchange_id)
    kind: Mapped[str] = mapped_column(String(5))
    exchange_type: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="proposed", index=True)
    score: Mapped[float] = mapped_column(Float)
    combination: Mapped[str] = mapped_column(String(64), index=True)
    """The hash of its users and items (the engine's signature)."""
    open_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    """The combination while the exchange is open or declined, NULL otherwise: the unique
    constraint lets one proposal of a combination exist at a time on every backend, and keeps a
    declined one from being proposed again."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class Participant(Base):
    """participants[position] gives its offer to participants[position + 1], cyclically."""

    __tablename__ = "exchange_participants"
    __table_args__ = (
        UniqueConstraint("exchange_id", "position"),
        UniqueConstraint("exchange_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    offer_item_id: Mapped[int] = mapped_column(ForeignKey("listing_items.id", ondelete="CASCADE"), index=True)
    want_item_id: Mapped[int] = mapped_column(ForeignKey("listing_items.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ExchangeEvent(Base):
    __tablename__ = "exchange_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(_user_fk("SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MatchingRun(Base):
    __tablename__ = "matching_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope_user_id: Mapped[int | None] = mapped_column(_user_fk("SET NULL"), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    bilateral_matches: Mapped[int] = mapped_column(Integer, default=0)
    chains_discovered: Mapped[int] = mapped_column(Integer, default=0)
    participants_notified: Mapped[int] = mapped_column(Integer, default=0)
    cancelled: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    __tablename__ = "exchange_notifications"
    __table_args__ = (Index("ix_exchange_notifications_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk())
    type: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "exchange_messages"
    __table_args__ = (Index("ix_exchange_messages_exchange_id_id", "exchange_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(_user_fk())
    message_text: Mapped[str] = mapped_column(Text)
    message_type: Mapped[str] = mapped_column(String(10), default="text")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Set when a moderator removes the message after a report: hidden for everyone."""


class ReadMark(Base):
    """How far a participant has read an exchange's chat: every message up to this id."""

    __tablename__ = "exchange_read_marks"

    user_id: Mapped[int] = mapped_column(_user_fk(), primary_key=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True)
    last_read_id: Mapped[int] = mapped_column(Integer, default=0)


class Review(Base):
    __tablename__ = "exchange_reviews"
    __table_args__ = (UniqueConstraint("exchange_id", "author_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[str] = mapped_column(ForeignKey("exchanges.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    target_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Report(Base):
    __tablename__ = "exchange_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    target_listing_id: Mapped[int | None] = mapped_column(
        ForeignKey("listing_items.id", ondelete="CASCADE"), nullable=True
    )
    target_user_id: Mapped[int | None] = mapped_column(_user_fk(), nullable=True)
    target_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchange_messages.id", ondelete="CASCADE"), nullable=True, index=True
    )
    """A reported chat message: hidden for its reporter from the moment of the report."""
    reason: Mapped[str] = mapped_column(String(30))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence_urls: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    admin_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(_user_fk("SET NULL"), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Ban(Base):
    __tablename__ = "exchange_bans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(_user_fk(), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    banned_by: Mapped[int | None] = mapped_column(_user_fk("SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ban_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
