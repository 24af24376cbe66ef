"""Test databases: one fresh database per backend and pytest worker, migrated once."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from basis.core.db import normalise_url

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_URLS = {
    "postgresql": os.environ.get(
        "BASIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("BASIS_TEST_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/test"),
}
REDIS_URL = os.environ.get("BASIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SLOT = int(os.environ.get("BASIS_TEST_SLOT", "0"))
"""Lets several checkouts run their suites at once on one machine: slot N gets databases and
Redis numbers of its own (0-4 on one Redis server; 0 is the default a lone checkout uses; slots
5 and up wrap around, so give each of them a Redis server of its own with BASIS_TEST_REDIS_URL)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def chosen_backends() -> list[str]:
    raw = os.environ.get("BASIS_TEST_BACKENDS", ",".join(ALL_BACKENDS))
    chosen = [b.strip() for b in raw.split(",") if b.strip()]
    unknown = set(chosen) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"BASIS_TEST_BACKENDS: unknown {sorted(unknown)}; use {ALL_BACKENDS}")
    return chosen


def port_open(url: str, default_port: int) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class TestDatabase:
    backend: str
    url: str


def _db_name(worker: str) -> str:
    return f"basis_test_{worker}" if SLOT == 0 else f"basis_test_s{SLOT}_{worker}"


def redis_db(worker: str) -> int:
    """This pytest worker's own Redis database number, never shared with another worker or slot."""
    number = worker.removeprefix("gw")
    return 15 - (SLOT * 3 + (int(number) if number.isdigit() else 0) % 3) % 16


@asynccontextmanager
async def _admin(backend: str) -> AsyncIterator[AsyncConnection]:
    """A connection to ``backend``'s server outside any test database, each statement its own."""
    engine = create_async_engine(
        normalise_url(SERVER_URLS[backend]), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def _drop(conn: AsyncConnection, backend: str, name: str) -> None:
    if backend == "postgresql":
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        # A connection left in a transaction would make DROP wait for it: not for long.
        await conn.execute(text("SET SESSION lock_wait_timeout = 10"))
        await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))


async def _recreate(backend: str, name: str) -> None:
    async with _admin(backend) as conn:
        await _drop(conn, backend, name)
        if backend == "postgresql":
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            await conn.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )


async def _drop_all(backend: str, names: list[str]) -> None:
    async with _admin(backend) as conn:
        for name in names:
            await _drop(conn, backend, name)


def drop_database(database: TestDatabase) -> None:
    """The end of a test database: a server's copy is dropped (a failure here means a connection
    was left in a transaction); SQLite's file goes with pytest's temporary folder."""
    if database.backend != "sqlite":
        name = make_url(database.url).database
        assert name and name.startswith("basis_test_"), name
        asyncio.run(_drop_all(database.backend, [name]))


async def database_names(backend: str) -> list[str]:
    """The test databases on ``backend``'s server, this run's and any other's."""
    async with _admin(backend) as conn:
        pattern = "'basis\\_test\\_%'"
        if backend == "postgresql":
            listed = await conn.execute(text(f"SELECT datname FROM pg_database WHERE datname LIKE {pattern}"))
        else:
            listed = await conn.execute(text(f"SHOW DATABASES LIKE {pattern}"))
        return [row[0] for row in listed]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_names(names: list[str]) -> list[str]:
    """The test databases of runs that ended without dropping them (killed, interrupted): the
    pid their name ends with is no longer running on this machine."""
    stale = []
    for name in names:
        if not name.startswith("basis_test_"):
            continue
        tail = name.rsplit("_", 1)[-1]
        if tail.isdigit() and not _pid_alive(int(tail)):
            stale.append(name)
    return stale


async def _sweep(backend: str) -> None:
    stale = stale_names(await database_names(backend))
    async with _admin(backend) as conn:
        for name in stale:
            try:
                await _drop(conn, backend, name)
            except Exception:  # another worker dropped it first, or a run still holds it: not ours to force
                pass


def sweep_stale_databases(backend: str) -> None:
    """Drop what killed runs left on this server (once per worker and backend, before creating)."""
    if backend != "sqlite":
        asyncio.run(_sweep(backend))


def create_database(backend: str, worker: str, tmp_dir: Path) -> TestDatabase:
    if backend == "sqlite":
        return TestDatabase(backend, f"sqlite+aiosqlite:///{tmp_dir / f'test_{worker}.sqlite3'}")
    name = _db_name(worker)
    asyncio.run(_recreate(backend, name))
    url = make_url(normalise_url(SERVER_URLS[backend])).set(database=name)
    return TestDatabase(backend, url.render_as_string(hide_password=False))


async def empty_tables(url: str, table_names: list[str]) -> None:
    """Delete every row, children first; quicker than TRUNCATE for the small tables of a test."""
    engine = create_async_engine(normalise_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            backend = conn.dialect.name
            if backend == "mysql" or backend == "mariadb":
                await conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for name in table_names:
                quoted = conn.dialect.identifier_preparer.quote(name)
                await conn.execute(text(f"DELETE FROM {quoted}"))
            if backend in ("mysql", "mariadb"):
                await conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    finally:
        await engine.dispose()
