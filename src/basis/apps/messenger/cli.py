"""``basis messenger ...``: demo data, figures and search upkeep from the command line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.db import Database
from basis.core.progress import advancer, progress_bar
from basis.settings import Settings

cli = typer.Typer(help="Messenger: demo data, figures and search upkeep.", no_args_is_help=True)
T = TypeVar("T")

REINDEX = {
    "sqlite": ("INSERT INTO messenger_messages_fts(messenger_messages_fts) VALUES ('rebuild')",),
    "postgresql": (
        "DELETE FROM messenger_messages_tsv",
        "INSERT INTO messenger_messages_tsv (id, words) "
        "SELECT id, to_tsvector('simple', text) FROM messenger_messages",
    ),
    "mysql": (
        "DELETE FROM messenger_messages_ft",
        "INSERT INTO messenger_messages_ft (id, text) SELECT id, text FROM messenger_messages",
        "OPTIMIZE TABLE messenger_messages_ft",
    ),
}
"""Rebuild each database's search table from the messages (after a restore that skipped the
triggers, or a bulk load with them off)."""
INDEX_ROWS = {
    "sqlite": "SELECT count(*) FROM messenger_messages_fts",
    "postgresql": "SELECT count(*) FROM messenger_messages_tsv",
    "mysql": "SELECT count(*) FROM messenger_messages_ft",
}


def _run(work: Callable[[AsyncSession], Awaitable[T]], what: str) -> T:
    async def run() -> T:
        db = Database(Settings().resolved_database_url, pool_size=1)
        try:
            async with db.sessionmaker() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except Exception as error:  # a user-facing command: one line, no traceback
        reason = str(getattr(error, "orig", None) or error).splitlines()[0][:300]
        typer.echo(f"error: cannot {what}: {reason} (is the database migrated? `basis migrate`)", err=True)
        raise SystemExit(2) from None


@cli.command()
def demo(
    size: Annotated[
        str, typer.Option(help="full: 200 people, 50 groups, 100,000 messages; small: 40/10/5,000")
    ] = "full",
) -> None:
    """Fill the messenger with demo people, groups, dialogs and messages (with a progress bar)."""
    if size not in ("small", "full"):
        typer.echo("error: --size must be small or full", err=True)
        raise SystemExit(2)
    from basis.apps.messenger.demo import demo as fill

    with progress_bar() as progress:
        advance = advancer(progress, progress.add_task("messenger", total=None))

        async def work(session: AsyncSession) -> None:
            await fill(session=session, settings=Settings(), progress=advance, size=size)

        _run(work, "write the demo data")
    typer.echo("messenger: demo data ready")


async def _stats(session: AsyncSession) -> dict[str, int]:
    from basis.apps.messenger.models import Chat, ChatMember, Message
    from basis.core.models import JobOutbox

    dialect = session.get_bind().dialect.name
    index_rows = INDEX_ROWS.get(dialect)
    figures = {
        "dialogs": select(func.count()).select_from(Chat).where(Chat.type == "dialog"),
        "groups": select(func.count()).select_from(Chat).where(Chat.type == "group"),
        "memberships": select(func.count()).select_from(ChatMember),
        "muted memberships": select(func.count()).select_from(ChatMember).where(ChatMember.muted.is_(True)),
        "messages": select(func.count()).select_from(Message),
        "deleted messages": select(func.count()).select_from(Message).where(Message.deleted_at.is_not(None)),
        "offline mails waiting": select(func.count())
        .select_from(JobOutbox)
        .where(JobOutbox.task == "messenger.offline_mail"),
    }
    out = {name: int(await session.scalar(stmt) or 0) for name, stmt in figures.items()}
    if index_rows:
        out["search index rows"] = int(await session.scalar(text(index_rows)) or 0)
    return out


@cli.command()
def stats() -> None:
    """Chats, members, messages, waiting offline mails and search index rows, one per line."""
    for name, value in _run(_stats, "read the messenger's figures").items():
        typer.echo(f"{name}: {value}")


async def _reindex(session: AsyncSession) -> int:
    from basis.apps.messenger.models import Message

    dialect = session.get_bind().dialect.name
    for statement in REINDEX.get(dialect, ()):
        await session.execute(text(statement))
    await session.commit()
    return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


@cli.command()
def reindex() -> None:
    """Rebuild the search index of this database from the messages."""
    count = _run(_reindex, "rebuild the search index")
    typer.echo(f"search index rebuilt: {count} message(s)")
