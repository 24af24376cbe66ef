"""HemoDay's background jobs: one reminder mail to one member."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from basis.apps.hemoday.models import Member, Reminder
from basis.apps.hemoday.reminders import REMINDER_MAIL
from basis.core.jobs import JobContext, job
from basis.core.time import get_zone
from basis.identity.models import User


@job(REMINDER_MAIL, retries=5)
async def reminder_mail(
    ctx: JobContext, *, reminder_pk: int, family_id: str, user_id: int, occurrence: str
) -> None:
    """Sent only while the reminder is live and the user still a member of its family."""
    async with ctx.sessionmaker() as session:
        reminder = await session.get(Reminder, reminder_pk)
        row = (
            await session.execute(
                select(User.email, User.is_active)
                .join(Member, Member.user_id == User.id)
                .where(User.id == user_id, Member.family_id == family_id)
            )
        ).one_or_none()
    if reminder is None or reminder.deleted_at is not None or reminder.family_id != family_id:
        return
    if row is None or not row.email or not row.is_active:
        return
    when = dt.datetime.fromisoformat(occurrence).astimezone(get_zone(ctx.settings.timezone))
    title = " ".join(reminder.title.split())[:150]
    text = (
        f"Напоминание HemoDay / HemoDay reminder\n\n{reminder.title}\n"
        f"{when:%Y-%m-%d %H:%M} ({ctx.settings.timezone})\n"
        + (f"\n{reminder.note}\n" if reminder.note else "")
    )
    await ctx.mailer.send([row.email], f"HemoDay: {title}", text)
