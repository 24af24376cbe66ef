"""``basis warehouse ...``: checks and upkeep from the command line."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from basis.apps.warehouse.types import as_number
from basis.core.db import Database
from basis.settings import Settings

cli = typer.Typer(help="Warehouse: ledger checks and upkeep.", no_args_is_help=True)


async def _verify(settings: Settings) -> list[object]:
    from basis.apps.warehouse import stock

    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.sessionmaker() as session:
            return list(await stock.verify(session=session))
    finally:
        await db.dispose()


def _show(value: object) -> str:
    return "-" if value is None else str(as_number(value))  # type: ignore[arg-type]


@cli.command()
def verify() -> None:
    """Recompute every stock level from the ledger; exit 1 when any level drifted."""
    try:
        drifts = asyncio.run(_verify(Settings()))
    except Exception as error:  # a user-facing command: one line, no traceback
        typer.echo(f"error: cannot read the warehouse ledger: {str(error).splitlines()[0][:300]}", err=True)
        raise SystemExit(2) from None
    if not drifts:
        typer.echo("ok: every stock level equals the sum of its movements")
        return
    typer.echo(f"DRIFT: {len(drifts)} stock level(s) differ from the ledger", err=True)
    typer.echo("product_id;location_id;level;ledger;last_balance_after")
    for d in drifts:
        typer.echo(
            f"{d.product_id};{d.location_id};{_show(d.level)};{_show(d.ledger)};{_show(d.last_balance)}"
        )  # type: ignore[attr-defined]
    # SystemExit, not typer.Exit: the exit status must survive a caller in standalone_mode=False.
    raise SystemExit(1)


async def _purge(settings: Settings, days: int) -> int:
    from basis.apps.warehouse.dependencies import KEYS

    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.sessionmaker() as session:
            return await KEYS.purge(session, older_than_days=days)
    finally:
        await db.dispose()


@cli.command("purge-keys")
def purge_keys(
    days: Annotated[int, typer.Option(min=1, help="Forget Idempotency-Keys older than this many days")] = 30,
) -> None:
    """Forget old Idempotency-Keys (a retry after that many days is a new request)."""
    typer.echo(f"removed {asyncio.run(_purge(Settings(), days))} idempotency key(s)")
