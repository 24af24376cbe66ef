from __future__ import annotations

from basis.core.jobs import JobContext, job
from tests.example_app import service


@job("example.add_note", retries=2)
async def add_note(ctx: JobContext, *, text: str, notify: str | None = None) -> None:
    async with ctx.sessionmaker() as session:
        await service.create(session=session, text=text)
    if notify:
        await ctx.mailer.send([notify], "Note added", text)
