"""The suite cleans up after itself: a run drops its databases, and a killed run's are swept."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support import backends as tb


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_the_databases_of_ended_runs_are_stale() -> None:
    dead = _dead_pid()
    names = [
        f"basis_test_gw0_{dead}",
        f"basis_test_mig_gw1_{dead}",
        f"basis_test_gw0_{os.getpid()}",  # this run's: alive
        "basis_test_gw0",  # no pid: not the suite's naming, never guessed at
        f"basis_bench_{dead}",  # not a test database
    ]
    assert tb.stale_names(names) == [f"basis_test_gw0_{dead}", f"basis_test_mig_gw1_{dead}"]


def _names(backend: str) -> set[str]:
    return set(asyncio.run(tb.database_names(backend)))


def test_a_killed_runs_database_is_swept_and_a_running_ones_kept(
    backend: str, test_database: tb.TestDatabase, tmp_path: Path
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite's databases are files under pytest's own temporary folder")
    dead = tb.create_database(backend, f"sweep_{_dead_pid()}", tmp_path)
    alive = tb.create_database(backend, f"sweep_{os.getpid()}", tmp_path)
    dead_name, alive_name = (make_url(d.url).database for d in (dead, alive))
    try:
        assert {dead_name, alive_name} <= _names(backend)
        tb.sweep_stale_databases(backend)
        left = _names(backend)
        assert dead_name not in left
        assert alive_name in left and make_url(test_database.url).database in left
    finally:
        tb.drop_database(alive)
        tb.drop_database(dead)
    assert alive_name not in _names(backend)
