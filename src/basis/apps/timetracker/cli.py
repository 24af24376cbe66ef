"""``basis timetracker export``: the payroll month as a file, from the command line."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from basis.core.db import Database
from basis.settings import Settings

cli = typer.Typer(help="TimeTracker: payroll exports.", no_args_is_help=True)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _fail(message: str) -> SystemExit:
    typer.echo(f"error: {message}", err=True)
    # SystemExit, not typer.Exit: `basis` runs click with standalone_mode=False, where an
    # Exit's code is returned and lost.
    return SystemExit(2)


def _month_range(month: str) -> tuple[dt.date, dt.date]:
    match = _MONTH.match(month.strip())
    if not match:
        raise _fail(f"--month {month!r}: use YYYY-MM, e.g. 2026-03")
    year, number = int(match.group(1)), int(match.group(2))
    if not 1 <= number <= 12:
        raise _fail(f"--month {month!r}: the month is 01..12")
    first = dt.date(year, number, 1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return first, following - dt.timedelta(days=1)


async def _export(
    settings: Settings, first: dt.date, last: dt.date, department: str | None, fmt: str, progress: Progress
) -> tuple[bytes, int]:
    from sqlalchemy import func, select

    from basis.apps.timetracker import exports, stats
    from basis.apps.timetracker.models import Employee

    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with db.sessionmaker() as session:
            query = select(func.count()).select_from(Employee)
            if department is not None:
                query = query.where(Employee.department == department)
            task = progress.add_task("employees", total=await session.scalar(query) or 0)
            rows = await stats.summary(
                session,
                rng=stats.Range(first, last),
                settings=settings,
                department=department,
                progress=lambda done: progress.update(task, completed=done),
            )
    finally:
        await db.dispose()
    rng = stats.Range(first, last)
    content = exports.to_csv(rows) if fmt == "csv" else exports.to_xlsx(rows, rng)
    return content, len(rows)


@cli.command()
def export(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    fmt: Annotated[str, typer.Option("--format", help="csv (';', UTF-8 BOM) or xlsx.")] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="File to write; default worktime_<from>_<to>.<format>.")
    ] = None,
    department: Annotated[str | None, typer.Option(help="Only this department.")] = None,
) -> None:
    """Write the payroll summary of a month: the same rows as GET /api/export/worktime.csv."""
    fmt = fmt.lower()
    if fmt not in ("csv", "xlsx"):
        raise _fail(f"--format {fmt!r}: csv or xlsx")
    first, last = _month_range(month)
    try:
        settings = Settings()
    except ValidationError as error:
        raise _fail(f"invalid settings: {error.errors()[0]['msg']}") from None
    target = output or Path(f"worktime_{first.isoformat()}_{last.isoformat()}.{fmt}")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, disable=not sys.stderr.isatty(), transient=True) as progress:
            content, count = asyncio.run(_export(settings, first, last, department, fmt, progress))
        target.write_bytes(content)
    except OSError as error:
        raise _fail(f"cannot write {target}: {error.strerror or error}") from None
    except Exception as error:  # a user-facing command: one line, no traceback
        raise _fail(f"{type(error).__name__}: {str(error).splitlines()[0][:300]}") from None
    typer.echo(f"wrote {count} employee row(s) for {first:%Y-%m} to {target}")
