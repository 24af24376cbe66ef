"""Async SQLAlchemy for SQLite, PostgreSQL and MariaDB, with one portable column set."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import DateTime, FromClause, Insert, MetaData, Row, String, Table, event, insert, select
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeDecorator

from basis.core.errors import BasisError

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC instant at millisecond precision on every backend.

    SQLite and MariaDB keep no zone, so values are stored as naive UTC and given their zone
    back on the way out; PostgreSQL keeps ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=3))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use basis.core.time")
        value = value.astimezone(dt.UTC).replace(microsecond=value.microsecond // 1000 * 1000)
        if dialect.name != "postgresql":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class ExactString(TypeDecorator[str]):
    """A string compared byte for byte everywhere. PostgreSQL and SQLite do; MariaDB and MySQL
    compare by default ignoring case and trailing spaces, and there the column gets a binary
    collation without padding."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "mysql":
            collation = "utf8mb4_nopad_bin" if getattr(dialect, "is_mariadb", False) else "utf8mb4_0900_bin"
            return dialect.type_descriptor(mysql.VARCHAR(self.impl.length, collation=collation))
        return dialect.type_descriptor(String(self.impl.length))


def normalise_url(url: str) -> str:
    """Accept the plain URLs the source systems used and pick the async driver."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgres": "postgresql+psycopg",
        "postgresql": "postgresql+psycopg",
        "postgresql+asyncpg": "postgresql+psycopg",
        "mysql": "mysql+asyncmy",
        "mariadb": "mysql+asyncmy",
        "mysql+pymysql": "mysql+asyncmy",
        "mysql+aiomysql": "mysql+asyncmy",
        "mariadb+asyncmy": "mysql+asyncmy",
    }.get(parsed.drivername)
    if driver:
        parsed = parsed.set(drivername=driver)
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


def backend_name(url: str) -> str:
    """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB reports itself as mysql)."""
    return make_url(normalise_url(url)).get_backend_name()


def create_engine(
    url: str, *, pool_size: int = 20, max_overflow: int = 10, echo: bool = False, pre_ping: bool = False
) -> AsyncEngine:
    url = normalise_url(url)
    backend = backend_name(url)
    if backend == "sqlite":
        # One connection per process: SQLite has one writer anyway, and a single connection
        # avoids "database is locked" between our own connections. BEGIN IMMEDIATE takes the
        # write lock up front so read-then-write transactions of several processes queue on
        # busy_timeout instead of failing.
        engine = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60)
        _sqlite_pragmas(engine)
        return engine
    kwargs: dict[str, Any] = {
        "echo": echo,
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_pre_ping": pre_ping,
        "pool_recycle": 1800,
        "pool_timeout": 30,
        # Whatever the server's default: a statement after a row lock must see what the lock's
        # holder committed (a scan another process stored meanwhile).
        "isolation_level": "READ COMMITTED",
    }
    if backend == "mysql":
        kwargs["pool_reset_on_return"] = None  # _mysql_reset decides
    engine = create_async_engine(url, **kwargs)
    if backend == "postgresql":
        _postgresql_utc(engine)
    if backend == "mysql":
        _mysql_reset(engine)
    return engine


def _mysql_reset(engine: AsyncEngine) -> None:
    """A connection goes back to the pool with a ROLLBACK only when the server says a transaction
    is open. The pool's own reset sends one every time, a round trip even after a COMMIT;
    psycopg already skips it when idle. A transaction SQLAlchemy left open is rolled back
    before this (``transaction_was_reset``); the server's flag covers the driver used directly."""

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: Any, state: Any) -> None:
        if state.terminate_only or state.transaction_was_reset or not state.asyncio_safe:
            return
        if dbapi_conn.driver_connection.get_transaction_status():
            dbapi_conn.rollback()


def _postgresql_utc(engine: AsyncEngine) -> None:
    """Sessions in UTC: psycopg then hands timestamps over with ``datetime.UTC`` itself, which
    UTCDateTime keeps as they are, instead of the server's zone that every row converts from."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("SET TIME ZONE 'UTC'")
        cursor.close()
        dbapi_conn.commit()


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class Database:
    """The engine and session factory of one process."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        max_overflow: int = 10,
        echo: bool = False,
        pre_ping: bool = False,
    ) -> None:
        self.url = normalise_url(url)
        self.backend = backend_name(self.url)
        self.engine = create_engine(
            self.url, pool_size=pool_size, max_overflow=max_overflow, echo=echo, pre_ping=pre_ping
        )
        self.sessionmaker = create_sessionmaker(self.engine)

    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


@functools.cache
def driver_sql(statement: Executable, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """A statement built once (a module's constant), compiled once for the driver itself: its
    text and its fixed parameters."""
    compiled = statement.compile(dialect=dialect)
    return compiled.string, {k: v for k, v in compiled.params.items() if v is not None}


@contextlib.asynccontextmanager
async def psycopg_connection(conn: AsyncConnection) -> AsyncIterator[Any]:
    """psycopg's own connection under ``conn`` (for its pipeline mode: many statements in one
    round trip). A psycopg error inside comes out as SQLAlchemy's ``DBAPIError``, after the
    transaction was rolled back, or the connection invalidated when it was lost, so retries and
    outage handling treat it as any other database error."""
    import psycopg

    raw = (await conn.get_raw_connection()).driver_connection
    try:
        yield raw
    except psycopg.Error as error:
        lost = bool(raw.closed or raw.broken)
        if lost:
            await conn.invalidate()
        else:
            with contextlib.suppress(psycopg.Error):
                await raw.rollback()
        raise DBAPIError.instance(None, None, error, psycopg.Error, connection_invalidated=lost) from error


async def plain_rows(conn: AsyncConnection, statement: Executable) -> Sequence[Sequence[Any]]:
    """Rows for a large read. On PostgreSQL straight from psycopg, as tuples, skipping
    SQLAlchemy's per-row work (a third of the time of a payroll month's 88k events): sessions
    run in UTC, so its timestamps already come as UTCDateTime gives them. Elsewhere the usual
    SQLAlchemy rows."""
    if conn.dialect.name != "postgresql":
        return (await conn.execute(statement)).all()
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = {}
    for name, value in compiled.params.items():
        # The items of an expanded IN list are named <list's name>_<n>.
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(name.rpartition("_")[0])
        process = bind.type.bind_processor(conn.dialect) if bind is not None else None
        params[name] = process(value) if process is not None else value  # e.g. UTC, milliseconds
    raw = (await conn.get_raw_connection()).driver_connection
    async with raw.cursor() as cursor:
        await cursor.execute(compiled.string, params)
        return await cursor.fetchall()  # type: ignore[no-any-return]


def _codes(error: DBAPIError) -> tuple[Any, Any]:
    """The SQLSTATE (PostgreSQL; MariaDB sends one too) and the error number (MariaDB)."""
    orig = error.orig
    args = getattr(orig, "args", ())
    return getattr(orig, "sqlstate", None), args[0] if args else None


def is_lock_timeout(error: DBAPIError) -> bool:
    """A row lock waited for longer than the session allows (PostgreSQL, MariaDB)."""
    state, number = _codes(error)
    return state == "55P03" or number == 1205


def is_transient(error: DBAPIError) -> bool:
    """A deadlock, serialisation failure or lock timeout: the database chose this transaction
    as the victim, and the same work run again will usually pass."""
    state, number = _codes(error)
    if is_lock_timeout(error) or state in ("40P01", "40001") or number == 1213:
        return True
    return "database is locked" in str(error.orig)


async def retry_transient(
    work: Callable[[], Awaitable[T]],
    *,
    before_retry: Callable[[], Awaitable[None]] | None = None,
    attempts: int = 4,
    on_retry: Callable[[int, DBAPIError], None] | None = None,
    should_retry: Callable[[DBAPIError], bool] = is_transient,
) -> T:
    """``work()`` again (after ``before_retry()``, e.g. a rollback) when it failed transiently."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except DBAPIError as error:
            if attempt == attempts or not should_retry(error):
                raise
            if before_retry is not None:
                await before_retry()
            if on_retry is not None:
                on_retry(attempt, error)
            await asyncio.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311 - jitter
    raise AssertionError("unreachable")


MYSQL_DUPLICATE_KEY = 1062


def _insert_ignore(session: AsyncSession, table: Table) -> Insert:
    """PostgreSQL's and SQLite's INSERT that does nothing on a unique conflict."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


async def insert_or_skip(session: AsyncSession, table: Table, values: dict[str, Any]) -> bool:
    """True when the row was inserted, False when a unique conflict skipped it.

    Like ``INSERT ... ON CONFLICT DO NOTHING``, the insert first waits for a concurrent
    transaction holding the same key, so the caller then reads that transaction's committed row.
    ``table`` needs an ``id`` column.
    """
    if session.get_bind().dialect.name == "mysql":
        # INSERT IGNORE would make the driver fetch and log a warning for every retry; a
        # duplicate-key error only undoes this statement in MariaDB, the transaction goes on.
        try:
            await session.execute(insert(table).values(**values))
        except IntegrityError as error:
            if getattr(error.orig, "args", (None,))[0] != MYSQL_DUPLICATE_KEY:
                raise
            return False
        return True
    # RETURNING tells whether a row went in; rowcount is not reliable with it.
    stmt = _insert_ignore(session, table).values(**values).returning(table.c.id)
    return (await session.execute(stmt)).first() is not None


async def get_or_404(
    session: AsyncSession, model: type[T], pk: Any, not_found: BasisError | Callable[[], BasisError]
) -> T:
    """The row of ``model`` with primary key ``pk``, or ``not_found`` raised."""
    row = await session.get(model, pk)
    if row is None:
        raise not_found if isinstance(not_found, BasisError) else not_found()
    return row


async def lock_rows(
    session: AsyncSession,
    table: FromClause,
    ids: Iterable[int],
    *,
    columns: Sequence[Any] = (),
    key_share: bool = False,
) -> Sequence[Row[Any]]:
    """Lock the rows of ``table`` with these ids to the end of the transaction, and read their
    ``id`` and ``columns``: the rows found, in id order (``id`` first, given or not).

    The locks are taken in id order, so two transactions locking overlapping sets never wait on
    each other in a cycle. PostgreSQL and MariaDB: ``SELECT ... FOR UPDATE``; with ``key_share``
    PostgreSQL takes ``FOR NO KEY UPDATE`` instead, which lets other transactions insert rows
    that refer to the locked ones. SQLite has no row locks: the connection's ``BEGIN IMMEDIATE``
    already made this transaction the only writer, and the statement only reads.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    id_column = table.c.id
    where = id_column == wanted[0] if len(wanted) == 1 else id_column.in_(wanted)
    extra = [column for column in columns if column is not id_column]
    stmt = select(id_column, *extra).where(where).order_by(id_column).with_for_update(key_share=key_share)
    return (await session.execute(stmt)).all()


async def lock_row(
    session: AsyncSession,
    table: FromClause,
    row_id: int,
    *,
    columns: Sequence[Any] = (),
    key_share: bool = False,
) -> Row[Any] | None:
    """``lock_rows`` for one row: the row, or None when there is none with this id."""
    rows = await lock_rows(session, table, [row_id], columns=columns, key_share=key_share)
    return rows[0] if rows else None
