"""Readiness of the local disk: a full disk under SQLite (or under local file storage) is a
dependency that is down, reported by ``/health/ready`` before writes start to fail.

Two checks on each filesystem that holds the SQLite file or local file storage: the free space
is at least :data:`MIN_FREE_BYTES`, and a small file can be written, flushed to disk and removed
(a read-only or quota-bound filesystem can report free space it will not give)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

MIN_FREE_BYTES = 64 * 1024 * 1024
"""Below this, ``/health/ready`` answers 503: a SQLite WAL, an export or an upload needs room."""
PROBE_NAME = ".basis-ready-probe"
PROBE_BYTES = 4096


def watched_directories(database_url: str, others: Sequence[Path] = ()) -> list[Path]:
    """The SQLite file's directory (when the database is SQLite) and ``others`` (local file
    storage), each filesystem once. A server on PostgreSQL with S3 storage writes no local file
    that matters, so it watches nothing (a read-only root filesystem stays ready)."""
    candidates: list[Path] = []
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        candidates.append(Path(url.database).resolve().parent)
    candidates += [Path(directory).resolve() for directory in others]
    seen: set[int] = set()
    chosen: list[Path] = []
    for directory in candidates:
        try:
            device = directory.stat().st_dev
        except OSError:
            continue  # not made yet: nothing has been written there to fill it
        if device not in seen:
            seen.add(device)
            chosen.append(directory)
    return chosen


def disk_problem(directory: Path, min_free: int | None = None) -> str | None:
    """Why ``directory`` cannot take writes (words safe to answer to anyone: no path), or None.
    Blocking: run it in a thread."""
    min_free = MIN_FREE_BYTES if min_free is None else min_free
    try:
        free = shutil.disk_usage(directory).free
    except OSError as exc:
        return f"the free space cannot be read: {exc.strerror or type(exc).__name__}"
    if free < min_free:
        return f"disk full: {free // (1024 * 1024)} MiB free, {min_free // (1024 * 1024)} MiB needed"
    probe = directory / PROBE_NAME
    try:
        with probe.open("wb") as file:
            file.write(b"\0" * PROBE_BYTES)
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        return f"a write failed: {exc.strerror or type(exc).__name__}"
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass
    return None
