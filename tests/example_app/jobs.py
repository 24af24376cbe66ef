from __future__ import annotations

from basis.core.jobs import JobContext, job
from basis.identity.models import User
from tests.example_app import service


@job("example.add_note", retries=2)
async def add_note(ctx: JobContext, *, text: str, notify: str | None = None) -> None:
    async with ctx.sessionmaker() as session:
        await service.create(session=session, text=text)
    if notify:
        await ctx.mailer.send([notify], "Note added", text)


@job("example.suspend_user")
async def suspend_user(ctx: JobContext, *, user_id: int) -> None:
    """A job that changes an account, as a moderation or clean-up job would."""
    async with ctx.sessionmaker() as session:
        user = await session.get(User, user_id)
        if user is not None:
            user.is_active = False
            await session.commit()
