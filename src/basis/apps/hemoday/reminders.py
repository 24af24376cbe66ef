"""Reminders by mail (rule 23): each occurrence, once, to every member of the reminder's family.

A scan runs in every server process every ``BASIS_HEMODAY_REMINDER_INTERVAL_SECONDS``. For each
live reminder it finds the latest occurrence that is due and at most 24 h old, claims it with a
conditional update of the reminder's ``last_sent_at`` (one process wins), and queues one mail
job per member, keyed by reminder, occurrence and member: a job key runs once, so a member never
gets an occurrence twice, whichever process or worker sends it.
"""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
from contextlib import suppress
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday.models import Member, Reminder
from basis.apps.hemoday.settings import HemodaySettings
from basis.core.logging import get_logger
from basis.core.time import get_zone, utcnow

if TYPE_CHECKING:
    from fastapi import FastAPI

    from basis.core.jobs import JobQueue

log = get_logger("basis.hemoday")

REMINDER_MAIL = "hemoday.reminder_mail"
LATE_LIMIT = dt.timedelta(hours=24)
DAILY, WEEKLY, MONTHLY, NEVER = "Ежедневно", "Еженедельно", "Ежемесячно", "Никогда"


def _add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _local_start(date_text: str, time_text: str) -> tuple[dt.date, dt.time] | None:
    try:
        return dt.date.fromisoformat(date_text[:10]), dt.time.fromisoformat(time_text)
    except ValueError:
        return None


def latest_occurrence(
    *, date_text: str, time_text: str, repeat: str, now: dt.datetime, zone: dt.tzinfo
) -> dt.datetime | None:
    """The latest occurrence at or before ``now`` (UTC), the wall clock read in ``zone``."""
    start = _local_start(date_text, time_text)
    if start is None:
        return None
    first_day, at = start

    def instant(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.UTC)

    today = now.astimezone(zone).date()
    if repeat == DAILY:
        candidates = [first_day + dt.timedelta(days=(today - first_day).days + k) for k in (0, -1)]
    elif repeat == WEEKLY:
        weeks = (today - first_day).days // 7
        candidates = [first_day + dt.timedelta(weeks=weeks + k) for k in (0, -1)]
    elif repeat == MONTHLY:
        months = (today.year - first_day.year) * 12 + today.month - first_day.month
        candidates = [_add_months(first_day, months + k) for k in (0, -1) if months + k >= 0]
    else:
        candidates = [first_day]
    due = [instant(day) for day in candidates if day >= first_day and instant(day) <= now]
    return max(due) if due else None


async def scan(
    *, session: AsyncSession, jobs: JobQueue, zone_name: str, now: dt.datetime | None = None
) -> int:
    """Queue the mails of every occurrence now due; returns how many occurrences were claimed."""
    now = now or utcnow()
    zone = get_zone(zone_name)
    rows = (
        await session.execute(
            select(
                Reminder.pk,
                Reminder.family_id,
                Reminder.date,
                Reminder.time,
                Reminder.repeat,
                Reminder.last_sent_at,
            ).where(Reminder.deleted_at.is_(None))
        )
    ).all()
    claimed = 0
    for row in rows:
        occurrence = latest_occurrence(
            date_text=row.date, time_text=row.time, repeat=row.repeat, now=now, zone=zone
        )
        if occurrence is None or now - occurrence > LATE_LIMIT:
            continue
        if row.last_sent_at is not None and occurrence <= row.last_sent_at:
            continue
        won = await session.execute(
            update(Reminder)
            .where(
                Reminder.pk == row.pk,
                Reminder.deleted_at.is_(None),
                or_(Reminder.last_sent_at.is_(None), Reminder.last_sent_at < occurrence),
            )
            .values(last_sent_at=occurrence)
            .execution_options(synchronize_session=False)
        )
        members = (
            await session.scalars(select(Member.user_id).where(Member.family_id == row.family_id))
        ).all()
        await session.commit()
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue
        claimed += 1
        stamp = occurrence.strftime("%Y%m%dT%H%M")
        for user_id in members:
            await jobs.enqueue(
                REMINDER_MAIL,
                key=f"{REMINDER_MAIL}:{row.pk}:{stamp}:{user_id}",
                reminder_pk=row.pk,
                family_id=row.family_id,
                user_id=user_id,
                occurrence=occurrence.isoformat(),
            )
    return claimed


async def _loop(app: FastAPI) -> None:
    settings = app.state.settings
    interval = settings.app(HemodaySettings).reminder_interval_seconds
    while True:
        try:
            async with app.state.db.sessionmaker() as session:
                await scan(session=session, jobs=app.state.infra.jobs, zone_name=settings.timezone)
        except asyncio.CancelledError:
            raise
        except Exception:  # the next scan tries again; an occurrence stays due for 24 h
            log.exception("hemoday_reminder_scan_failed")
        await asyncio.sleep(interval)


async def start_scanner(app: FastAPI) -> None:
    app.state.hemoday_reminders = asyncio.create_task(_loop(app), name="hemoday-reminders")


async def stop_scanner(app: FastAPI) -> None:
    task = getattr(app.state, "hemoday_reminders", None)
    if task is not None:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
