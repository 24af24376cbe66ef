"""The entity audit trail: who changed which row, with the row before and after, as JSON.

Each app keeps its own trail table in its own migration branch: a model with
``AuditRecord``'s columns plus an ``actor_id`` (usually a foreign key to ``users.id``, which the
core does not know), recorded through an ``AuditTrail`` over that model.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import JSON, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from basis.core.db import UTCDateTime
from basis.core.time import ensure_utc, utcnow


class Actor(Protocol):
    """Who acts: any account with an id and a login name (identity's ``User`` is one)."""

    @property
    def id(self) -> int: ...

    @property
    def login_name(self) -> str | None: ...


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: instants in UTC ISO 8601, dates and times ISO 8601,
    decimals as strings (exact), enums by value, UUIDs as text."""
    if isinstance(value, dt.datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def snapshot(obj: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The named attributes of an ORM row (or any object) as JSON-safe values."""
    return {name: json_value(getattr(obj, name)) for name in fields}


class AuditRecord:
    """The columns every trail table has; the app's model adds ``actor_id`` and its indexes."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str | None] = mapped_column(String(320), nullable=True)
    """The actor's login name at the time (kept when the account goes)."""
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AuditTrail:
    """Adds entries to one app's trail table, in the caller's transaction (the caller commits,
    so a change and its entry are stored together or not at all)."""

    def __init__(self, model: type[Any]) -> None:
        self.model = model

    def record(
        self,
        session: AsyncSession,
        *,
        actor: Actor | None,
        action: str,
        entity: str,
        entity_id: int | None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Any:
        entry = self.model(
            actor_id=actor.id if actor is not None else None,
            actor=actor.login_name if actor is not None else None,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=before,
            after=after,
            reason=reason,
            created_at=utcnow(),
        )
        session.add(entry)
        return entry
