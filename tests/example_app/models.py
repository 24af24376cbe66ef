from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from basis.core.audit import AuditRecord
from basis.core.db import Base, UTCDateTime
from basis.core.idempotency import IdempotencyRecord
from basis.core.time import utcnow


class ExampleNote(Base):
    __tablename__ = "example_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExampleKey(IdempotencyRecord, Base):
    """A second owner of the core's idempotency mechanism: keys scoped by sender alone, as a
    messenger's temp_id would be."""

    __tablename__ = "example_idempotency_keys"
    __table_args__ = (UniqueConstraint("sender", "key"),)

    sender: Mapped[int] = mapped_column(Integer)


class ExampleAudit(AuditRecord, Base):
    """A second owner of the core's audit trail."""

    __tablename__ = "example_audit_log"

    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
