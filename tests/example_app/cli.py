from __future__ import annotations

import asyncio

import typer

from basis.core.db import Database
from basis.settings import Settings
from tests.example_app import service

cli = typer.Typer(help="Example app commands.", no_args_is_help=True)


@cli.command()
def count() -> None:
    """Print how many notes there are."""
    typer.echo(f"example notes: {asyncio.run(_count(Settings()))}")


async def _count(settings: Settings) -> int:
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.sessionmaker() as session:
            return await service.count(session=session)
    finally:
        await db.dispose()
