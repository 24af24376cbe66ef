"""HemoDay tables: families, their members, and the nine tables WatermelonDB clients sync.

Every synced row is identified by (family, client id); ``changed_ms`` is the server's change
time that pulls filter on (a per-family logical clock, never the client's times). Deletes are
soft: ``deleted_at`` set, the row kept so that pulls can report it. The global lookup rows live
in code (``defaults``), not in these tables: nobody can change them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, declared_attr, mapped_column

from basis.core.audit import AuditRecord
from basis.core.db import Base, ExactString, UTCDateTime
from basis.core.time import utcnow

ROLES = ("owner", "member")
RECORD_ID_LENGTH = 64


def new_uuid() -> str:
    return str(uuid.uuid4())


class Family(Base):
    __tablename__ = "hemoday_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    invite_code: Mapped[str] = mapped_column(String(6), unique=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    patient_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    patient_birth_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    patient_current_weight: Mapped[float | None] = mapped_column(Double, nullable=True)
    clock_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    """The latest change time handed out (by a push) or promised (by a pull's timestamp)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __str__(self) -> str:
        return f"family {self.invite_code}"


class Member(Base):
    """A user's place in exactly one family; ``public_id`` is the user's id on the app's wire."""

    __tablename__ = "hemoday_members"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    family_id: Mapped[str] = mapped_column(ForeignKey("hemoday_families.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default="member")
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SyncedRecord:
    """The columns every synced table has."""

    pk: Mapped[int] = mapped_column(Integer, primary_key=True)
    id: Mapped[str] = mapped_column(ExactString(RECORD_ID_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    changed_ms: Mapped[int] = mapped_column(BigInteger)

    @declared_attr
    def family_id(cls) -> Mapped[str]:
        return mapped_column(ForeignKey("hemoday_families.id", ondelete="CASCADE"))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[object, ...]:
        name = cls.__tablename__  # type: ignore[attr-defined]
        return (
            UniqueConstraint("family_id", "id", name=f"uq_{name}_family_id_id"),
            Index(f"ix_{name}_family_id_changed_ms", "family_id", "changed_ms"),
        )


class Transfusion(SyncedRecord, Base):
    __tablename__ = "hemoday_transfusions"

    date: Mapped[str] = mapped_column(String(40))
    component: Mapped[str | None] = mapped_column(String(255), nullable=True)
    volume: Mapped[float] = mapped_column(Double)
    weight: Mapped[float] = mapped_column(Double)
    volume_per_kg: Mapped[float | None] = mapped_column(Double, nullable=True)
    hb_before: Mapped[float | None] = mapped_column(Double, nullable=True)
    hb_after: Mapped[float | None] = mapped_column(Double, nullable=True)
    delta_hb: Mapped[float | None] = mapped_column(Double, nullable=True)
    chelator: Mapped[str | None] = mapped_column(String(255), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Analysis(SyncedRecord, Base):
    __tablename__ = "hemoday_analyses"

    name: Mapped[str] = mapped_column(String(255))
    date: Mapped[str] = mapped_column(String(40))
    template_name: Mapped[str | None] = mapped_column(String(255), nullable=True)


class AnalysisItem(SyncedRecord, Base):
    __tablename__ = "hemoday_analysis_items"

    analysis_id: Mapped[str] = mapped_column(ExactString(RECORD_ID_LENGTH))
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    unit: Mapped[str | None] = mapped_column(String(100), nullable=True)


class AnalysisTemplate(SyncedRecord, Base):
    __tablename__ = "hemoday_analysis_templates"

    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class AnalysisTemplateItem(SyncedRecord, Base):
    __tablename__ = "hemoday_analysis_template_items"

    template_id: Mapped[str | None] = mapped_column(ExactString(RECORD_ID_LENGTH), nullable=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(100), nullable=True)


class Reminder(SyncedRecord, Base):
    __tablename__ = "hemoday_reminders"

    title: Mapped[str] = mapped_column(String(255))
    date: Mapped[str] = mapped_column(String(40))
    time: Mapped[str] = mapped_column(String(5))
    repeat: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """The occurrence last mailed (its due instant); server-side only, never synced."""


class Document(SyncedRecord, Base):
    __tablename__ = "hemoday_documents"

    name: Mapped[str] = mapped_column(String(255))
    category: Mapped[str | None] = mapped_column(String(255), nullable=True)
    file_url: Mapped[str] = mapped_column(String(1024))


class ComponentType(SyncedRecord, Base):
    __tablename__ = "hemoday_component_types"

    name: Mapped[str] = mapped_column(String(255))
    icon_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[float | None] = mapped_column(Double, nullable=True)


class ChelatorType(SyncedRecord, Base):
    __tablename__ = "hemoday_chelator_types"

    name: Mapped[str] = mapped_column(String(255))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    sort_order: Mapped[float | None] = mapped_column(Double, nullable=True)


class Upload(Base):
    """A file a member uploaded: stored under its family's key prefix."""

    __tablename__ = "hemoday_uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family_id: Mapped[str] = mapped_column(ForeignKey("hemoday_families.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class FamilyEvent(AuditRecord, Base):
    """Who changed a family's membership or settings: never a medical value. Kept when the
    family is deleted (its deletion is an entry too)."""

    __tablename__ = "hemoday_family_events"

    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    family_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


def _count(model: type[Base], *live: Any) -> Any:
    return column_property(
        select(func.count())
        .where(model.family_id == Family.id, *live)  # type: ignore[attr-defined]
        .correlate_except(model)
        .scalar_subquery(),
        deferred=True,
    )


# Counts per family for the admin panel, loaded only where asked for (``undefer``).
Family.member_count = _count(Member)  # type: ignore[attr-defined]
Family.transfusion_count = _count(Transfusion, Transfusion.deleted_at.is_(None))  # type: ignore[attr-defined]
Family.analysis_count = _count(Analysis, Analysis.deleted_at.is_(None))  # type: ignore[attr-defined]
Family.reminder_count = _count(Reminder, Reminder.deleted_at.is_(None))  # type: ignore[attr-defined]
Family.upload_count = _count(Upload)  # type: ignore[attr-defined]
COUNTS = ("member_count", "transfusion_count", "analysis_count", "reminder_count", "upload_count")

SYNCED: dict[str, type[SyncedRecord]] = {
    "transfusions": Transfusion,
    "analyses": Analysis,
    "analysis_items": AnalysisItem,
    "analysis_templates": AnalysisTemplate,
    "analysis_template_items": AnalysisTemplateItem,
    "reminders": Reminder,
    "documents": Document,
    "component_types": ComponentType,
    "chelator_types": ChelatorType,
}
"""Wire table name -> model, in the order pulls list them."""
