"""``basis exchange ...``: matching and upkeep from the command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import Progress

from basis.core.db import Database
from basis.settings import Settings

WORKER_NOTE = (
    "With BASIS_REDIS_URL set, re-matching after a listing change (and its notifications) runs in "
    "`basis worker`: run at least one beside the servers, or listing changes are not re-matched."
)
cli = typer.Typer(help=f"Exchange: matching and upkeep. {WORKER_NOTE}", no_args_is_help=True)


async def _match(settings: Settings, user_ids: list[int] | None, progress: Progress) -> tuple[int, int, int]:
    from sqlalchemy import select

    from basis.apps.exchange import matching
    from basis.apps.exchange.models import ListingItem
    from basis.apps.exchange.settings import ExchangeSettings

    app_settings = settings.app(ExchangeSettings)
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.sessionmaker() as session:
            if user_ids is None:
                owners = list(
                    await session.scalars(
                        select(ListingItem.user_id).where(ListingItem.archived_at.is_(None)).distinct()
                    )
                )
            else:
                owners = user_ids
            task = progress.add_task("matching", total=max(1, len(owners)))
            created = cancelled = 0
            # In slices of members, so the bar moves; each slice is one committed run.
            step = max(1, len(owners) // 50)
            for start in range(0, max(1, len(owners)), step):
                chunk = sorted(owners[start : start + step])
                outcome = await matching.rematch(session, settings=app_settings, user_ids=chunk or None)
                created += len(outcome.created)
                cancelled += len(outcome.cancelled)
                progress.advance(task, len(chunk) or 1)
            found = await matching.counts(session, user_id=None)
            return created, cancelled, found.bilateral_matches + found.exchange_chains
    finally:
        await db.dispose()


@cli.command()
def match(
    all_members: Annotated[
        bool, typer.Option("--all", help="Re-match every member with active listings")
    ] = False,
    user: Annotated[
        list[int] | None, typer.Option("--user", help="Re-match this member (repeatable)")
    ] = None,
) -> None:
    """Bring proposals up to date: new pairs and chains proposed, stale ones cancelled."""
    if not all_members and not user:
        typer.echo("error: give --all or at least one --user", err=True)
        raise SystemExit(2)
    try:
        with Progress() as progress:
            created, cancelled, open_now = asyncio.run(
                _match(Settings(), None if all_members else user, progress)
            )
    except Exception as error:  # a user-facing command: one line, no traceback
        typer.echo(f"error: matching failed: {str(error).splitlines()[0][:300]}", err=True)
        raise SystemExit(1) from None
    typer.echo(f"ok: {created} proposal(s) made, {cancelled} cancelled, {open_now} open")


async def _lift(settings: Settings) -> list[int]:
    from basis.apps.exchange.moderation import lift_expired
    from basis.core.infra import build_infra

    db = Database(settings.resolved_database_url, pool_size=1)
    infra = build_infra(settings, db, specs=[])
    await infra.start()
    try:
        async with db.sessionmaker() as session:
            return await lift_expired(session, settings=settings, infra=infra)
    finally:
        await infra.close()
        await db.dispose()


@cli.command("lift-bans")
def lift_bans() -> None:
    """End the bans whose time is up (server processes also do this every minute)."""
    typer.echo(f"lifted {len(asyncio.run(_lift(Settings())))} ban(s)")
