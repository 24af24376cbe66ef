"""Every enabled branch upgrades, downgrades and upgrades again, and matches the models."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from basis.core import migrations
from basis.core.db import create_engine
from tests.support import backends as tb


@pytest.fixture
def scratch_database(
    backend: str, worker_id_safe: str, tmp_path: Path, test_database: tb.TestDatabase
) -> Iterator[str]:
    # A database of its own: downgrading the shared test database would break other tests.
    database = tb.create_database(backend, f"mig_{worker_id_safe}", tmp_path)
    yield database.url
    tb.drop_database(database)


def _tables(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_round_trip_on_every_branch(scratch_database: str, all_specs: list[Any]) -> None:
    migrations.upgrade(scratch_database, all_specs)
    upgraded = _tables(scratch_database)
    assert {"users", "refresh_tokens", "job_runs", "example_notes"} <= upgraded
    assert asyncio.run(migrations.pending(scratch_database, all_specs)) == []

    migrations.downgrade(scratch_database, all_specs, "base")
    assert _tables(scratch_database) <= {"alembic_version"}

    migrations.upgrade(scratch_database, all_specs)
    assert _tables(scratch_database) == upgraded


def test_a_disabled_app_has_no_tables(scratch_database: str, all_specs: list[Any]) -> None:
    core_only: list[Any] = []
    migrations.upgrade(scratch_database, core_only)
    tables = _tables(scratch_database)
    assert "users" in tables and "example_notes" not in tables
    missing = asyncio.run(migrations.pending(scratch_database, all_specs))
    assert set(missing) == {spec.name for spec in all_specs}


def test_autogenerate_finds_no_difference_from_the_models(
    test_database: tb.TestDatabase, all_specs: list[Any]
) -> None:
    metadata = migrations.target_metadata(all_specs)
    owned = migrations.owned_tables(all_specs)

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return name in owned if type_ == "table" else True

    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include, "target_metadata": metadata}
        )
        return compare_metadata(context, metadata)

    async def run() -> list[Any]:
        engine = create_engine(test_database.url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(diff)
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == []
