"""Reminders (rule 23): mailed once per occurrence to every member, through the job queue."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from basis.apps.hemoday.reminders import latest_occurrence, scan
from basis.core.mail import OutboxMailer
from tests.apps.hemoday.conftest import HemoDay, only

WARSAW = ZoneInfo("Europe/Warsaw")


def reminder(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "title": "Сдать ферритин",
        "date": "2026-03-02",
        "time": "09:30",
        "repeat": "Никогда",
        "note": "натощак",
        **fields,
    }


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=WARSAW).astimezone(dt.UTC)


async def run_scan(app: FastAPI, now: dt.datetime) -> list[dict[str, Any]]:
    infra = app.state.infra
    async with app.state.db.sessionmaker() as session:
        await scan(session=session, jobs=infra.jobs, zone_name="Europe/Warsaw", now=now)
    await infra.jobs.drain()
    mailer = infra.mailer
    assert isinstance(mailer, OutboxMailer)
    return mailer.read()


async def test_each_member_gets_each_occurrence_once(hemoday: HemoDay, app: FastAPI) -> None:
    parent = await hemoday.register()
    grandma = await hemoday.join(parent.token["invite_code"])
    stranger = await hemoday.register()
    await parent.pull()
    await parent.push(
        only("reminders", "created", reminder("r1", repeat="Ежедневно"), reminder("gone", title="Удалён"))
    )
    await parent.pull()
    await parent.push(only("reminders", "deleted", "gone"))

    assert await run_scan(app, at("2026-03-02T09:29")) == []
    mails = await run_scan(app, at("2026-03-02T09:31"))
    assert sorted(m["to"][0] for m in mails) == sorted([parent.email, grandma.email])
    assert all(m["to"] == [m["to"][0]] and "Сдать ферритин" in m["subject"] for m in mails)
    assert stranger.email not in {m["to"][0] for m in mails}
    # Scanning again (another process, the next interval) sends nothing new.
    assert len(await run_scan(app, at("2026-03-02T09:45"))) == 2
    # The next day's occurrence goes out once more, to both.
    assert len(await run_scan(app, at("2026-03-03T10:00"))) == 4
    assert len(await run_scan(app, at("2026-03-03T11:00"))) == 4


async def test_late_weekly_monthly_and_removed_members(hemoday: HemoDay, app: FastAPI) -> None:
    parent = await hemoday.register()
    nanny = await hemoday.join(parent.token["invite_code"])
    await parent.pull()
    await parent.push(
        only("reminders", "created", reminder("old", date="2026-02-01"), reminder("w", repeat="Еженедельно"))
    )
    await parent.post("/family/remove-member", {"user_id": nanny.token["user_id"]})
    # More than 24 h late: never sent. The weekly one: its first occurrence, to the family only.
    mails = await run_scan(app, at("2026-03-02T10:00"))
    assert [m["to"] for m in mails] == [[parent.email]]
    assert len(await run_scan(app, at("2026-03-09T09:30"))) == 2


def test_occurrences_in_local_time() -> None:
    now = at("2026-05-31T12:00")
    monthly = latest_occurrence(
        date_text="2026-01-31", time_text="08:00", repeat="Ежемесячно", now=now, zone=WARSAW
    )
    assert monthly == at("2026-05-31T08:00")
    april = latest_occurrence(
        date_text="2026-01-31",
        time_text="08:00",
        repeat="Ежемесячно",
        now=at("2026-05-01T00:00"),
        zone=WARSAW,
    )
    assert april == at("2026-04-30T08:00")
    assert (
        latest_occurrence(date_text="2026-06-01", time_text="08:00", repeat="Ежедневно", now=now, zone=WARSAW)
        is None
    )
    daily = latest_occurrence(
        date_text="2026-05-01", time_text="13:00", repeat="Ежедневно", now=now, zone=WARSAW
    )
    assert daily == at("2026-05-30T13:00")
