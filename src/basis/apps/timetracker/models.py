"""TimeTracker tables: employees, terminals, scan events, schedules and the staff audit log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

import basis.identity.models  # noqa: F401 - registers ``users``, the target of our foreign keys
from basis.core.audit import AuditRecord
from basis.core.db import Base, ExactString, UTCDateTime
from basis.core.time import utcnow

KEY_STATUSES = ("none", "pending", "active", "revoked")
DIRECTIONS = ("IN", "OUT")
DIRECTION_SOURCES = ("device", "derived", "manual")


class Employee(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    nfc_uid: Mapped[str] = mapped_column(String(64), unique=True)
    """Upper-case hex without separators (see ``service.normalise_uid``)."""
    position: Mapped[str | None] = mapped_column(String(120), nullable=True)
    department: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """IANA zone; null means the site's ``BASIS_TIMEZONE``."""
    public_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The phone's RSA key, DER SubjectPublicKeyInfo in standard base64."""
    key_status: Mapped[str] = mapped_column(String(10), default="none")
    key_submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    """The account that may read this employee's own events and stats."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __str__(self) -> str:
        return f"{self.full_name} ({self.nfc_uid})"


class Terminal(Base):
    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 (hex) of the API key; the key itself is shown once and never stored."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    require_signature: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    key_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_employee_id_ts", "employee_id", "ts"),
        UniqueConstraint("terminal_id", "client_event_id", name="uq_events_terminal_id_client_event_id"),
        Index("ix_events_ts", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    terminal_id: Mapped[int | None] = mapped_column(
        ForeignKey("terminals.id", ondelete="SET NULL"), nullable=True
    )
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """The instant of the scan (device time within the trusted window), UTC, ms."""
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    direction: Mapped[str] = mapped_column(String(3))
    direction_source: Mapped[str] = mapped_column(String(8))
    is_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    client_event_id: Mapped[str | None] = mapped_column(ExactString(100), nullable=True)
    """The terminal's id of the tap: unique per terminal, compared byte for byte."""
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """Fingerprint of (uid, ts, direction) as the terminal sent them: tells a replay from a conflict."""
    comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    delete_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("employee_id", "day", name="uq_schedules_employee_id_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    start: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    end: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    """Local wall clock; ``end <= start`` means the shift ends the next day."""
    code: Mapped[str] = mapped_column(String(20), default="work")
    label: Mapped[str | None] = mapped_column(String(50), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditEntry(AuditRecord, Base):
    """Every change an admin or operator makes, with the record before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),)

    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
