"""The progress bar of long CLI commands (demo data), and the ``progress`` callback an app's
demo hook gets: ``progress(advance=1, total=None, description=None)``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


def progress_bar() -> Progress:
    """A bar with the task's name, count and time; silent when stderr is not a terminal."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, disable=not sys.stderr.isatty())


def advancer(progress: Progress, task: TaskID) -> Callable[..., None]:
    """The demo hook's ``progress`` callback for ``task`` of ``progress``."""

    def advance(advance: int = 1, total: int | None = None, description: str | None = None) -> None:
        fields: dict[str, Any] = {"advance": advance}
        if total is not None:
            fields["total"] = total
        if description is not None:
            fields["description"] = description
        progress.update(task, **fields)

    return advance
