"""The core's entity audit trail, on a table of the test app's own."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.audit import AuditTrail, json_value, snapshot
from tests.example_app.models import ExampleAudit, ExampleNote

TRAIL = AuditTrail(ExampleAudit)


@dataclass
class Someone:
    id: int
    login_name: str | None


def test_values_become_what_json_can_hold() -> None:
    warsaw = dt.timezone(dt.timedelta(hours=1))
    assert json_value(dt.datetime(2026, 1, 2, 9, 30, tzinfo=warsaw)) == "2026-01-02T08:30:00+00:00"
    assert json_value(dt.date(2026, 1, 2)) == "2026-01-02"
    assert json_value(dt.time(7, 5)) == "07:05:00"
    assert json_value(decimal.Decimal("1.250")) == "1.250"
    assert json_value(None) is None and json_value(True) is True


async def test_a_change_is_recorded_with_who_and_the_row_before_and_after(session: AsyncSession) -> None:
    note = ExampleNote(text="first", created_at=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC))
    session.add(note)
    await session.flush()
    before = snapshot(note, ("id", "text", "created_at"))
    note.text = "second"
    after = snapshot(note, ("id", "text"))
    TRAIL.record(
        session,
        actor=Someone(7, "ola"),
        action="update",
        entity="note",
        entity_id=note.id,
        before=before,
        after=after,
        reason="typo",
    )
    await session.commit()
    session.expunge_all()
    entry = (await session.execute(select(ExampleAudit))).scalar_one()
    assert (entry.actor_id, entry.actor, entry.action, entry.entity) == (7, "ola", "update", "note")
    assert entry.before == {"id": note.id, "text": "first", "created_at": "2026-05-01T12:00:00+00:00"}
    assert entry.after == {"id": note.id, "text": "second"} and entry.reason == "typo"
    assert entry.created_at.tzinfo is not None


async def test_an_entry_lives_and_dies_with_its_change(session: AsyncSession) -> None:
    TRAIL.record(session, actor=None, action="create", entity="note", entity_id=None)
    await session.rollback()
    assert (await session.execute(select(ExampleAudit))).first() is None
    TRAIL.record(session, actor=None, action="create", entity="note", entity_id=None)
    await session.commit()
    entry = (await session.execute(select(ExampleAudit))).scalar_one()
    assert entry.actor_id is None and entry.actor is None
