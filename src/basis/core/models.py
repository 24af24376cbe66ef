"""The core's own tables."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from basis.core.db import Base, UTCDateTime
from basis.core.time import utcnow


class JobRun(Base):
    """One row per idempotency key of a background job: a job whose key is done never reruns."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    task: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class JobOutbox(Base):
    """A job staged in the transaction of the change that calls for it (``JobQueue.stage``):
    queued when that transaction commits, by the committing process at once or, if it died
    first, by any process's sweep. Its key makes a second delivery a no-op."""

    __tablename__ = "job_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200), index=True)
    kwargs: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    """A job that waits (a delay that survives restarts): the sweep queues it once due."""
