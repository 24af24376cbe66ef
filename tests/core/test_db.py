from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.db import normalise_url
from basis.core.models import JobRun


def test_plain_urls_of_the_source_systems_get_async_drivers() -> None:
    assert normalise_url("postgresql://u:p@h/db").startswith("postgresql+psycopg://u:p@h/db")
    assert normalise_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("mysql://root@h/db") == "mysql+asyncmy://root@h/db?charset=utf8mb4"
    assert normalise_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"


async def test_instants_come_back_aware_utc_at_millisecond_precision(session: AsyncSession) -> None:
    warsaw = dt.timezone(dt.timedelta(hours=2))
    given = dt.datetime(2026, 10, 25, 2, 30, 15, 123456, tzinfo=warsaw)
    session.add(JobRun(key="k1", task="t", created_at=given))
    await session.commit()
    session.expunge_all()
    stored = (await session.execute(select(JobRun.created_at).where(JobRun.key == "k1"))).scalar_one()
    assert stored.tzinfo is not None and stored.utcoffset() == dt.timedelta(0)
    assert stored == dt.datetime(2026, 10, 25, 0, 30, 15, 123000, tzinfo=dt.UTC)


async def test_naive_datetimes_are_refused(session: AsyncSession) -> None:
    import pytest
    from sqlalchemy.exc import StatementError

    session.add(JobRun(key="k2", task="t", created_at=dt.datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive datetime"):
        await session.commit()


async def test_plain_rows_are_the_values_sqlalchemy_reads(session: AsyncSession) -> None:
    """A large read may skip SQLAlchemy's row work (PostgreSQL); the values must not change:
    aware UTC instants at millisecond precision, an expanded IN list, a bound instant."""
    from basis.core.db import plain_rows

    base = dt.datetime(2026, 3, 29, 0, 30, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    for n in range(5):
        session.add(JobRun(key=f"p{n}", task="t", attempts=n, created_at=base + dt.timedelta(hours=n)))
    await session.commit()
    query = (
        select(JobRun.key, JobRun.attempts, JobRun.created_at, JobRun.finished_at)
        .where(JobRun.key.in_(["p1", "p2", "p4", "absent"]))
        .where(JobRun.created_at >= base + dt.timedelta(hours=2))
        .order_by(JobRun.key)
    )
    conn = await session.connection()
    plain = [tuple(row) for row in await plain_rows(conn, query)]
    assert plain == [tuple(row) for row in (await session.execute(query)).all()]
    assert plain == [
        ("p2", 2, dt.datetime(2026, 3, 29, 1, 30, 0, 999000, tzinfo=dt.UTC), None),
        ("p4", 4, dt.datetime(2026, 3, 29, 3, 30, 0, 999000, tzinfo=dt.UTC), None),
    ]
    assert all(row[2].utcoffset() == dt.timedelta(0) for row in plain)


async def _notes(session: AsyncSession, *texts: str) -> list[int]:
    from tests.example_app.models import ExampleNote

    notes = [ExampleNote(text=text) for text in texts]
    session.add_all(notes)
    await session.commit()
    return [note.id for note in notes]


async def test_lock_rows_reads_the_rows_found_in_id_order(session: AsyncSession) -> None:
    from basis.core.db import lock_row, lock_rows
    from tests.example_app.models import ExampleNote

    notes = ExampleNote.__table__
    first, second, third = await _notes(session, "a", "b", "c")
    rows = await lock_rows(session, notes, [third, first, first, 2**31 - 1], columns=[notes.c.text])
    assert [tuple(row) for row in rows] == [(first, "a"), (third, "c")]
    assert await lock_rows(session, notes, []) == []
    one = await lock_row(session, notes, second, columns=[notes.c.id, notes.c.text])
    assert one is not None and tuple(one) == (second, "b")
    assert await lock_row(session, notes, 2**31 - 1) is None
    await session.rollback()


async def test_a_locked_row_makes_another_writer_wait_for_the_commit(
    session: AsyncSession, settings: Any
) -> None:
    """Read-then-write on the same row by two transactions: the second one sees the first's
    committed change, on every database (SQLite through its single writer)."""
    import asyncio

    from basis.core.db import Database, lock_row
    from tests.example_app.models import ExampleNote

    notes = ExampleNote.__table__
    (note_id,) = await _notes(session, "before")
    other_db = Database(settings.resolved_database_url, pool_size=1)
    try:
        assert await lock_row(session, notes, note_id, columns=[notes.c.text]) is not None

        async def second_writer() -> str:
            async with other_db.sessionmaker() as other:
                row = await lock_row(other, notes, note_id, columns=[notes.c.text])
                assert row is not None
                await other.rollback()
                return str(row.text)

        waiting = asyncio.create_task(second_writer())
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await session.execute(update(notes).where(notes.c.id == note_id).values(text="after"))
        await session.commit()
        assert await asyncio.wait_for(waiting, 30) == "after"
    finally:
        await other_db.dispose()


async def test_get_or_404_raises_the_given_error(session: AsyncSession) -> None:
    import pytest

    from basis.core.db import get_or_404
    from basis.core.errors import NotFound
    from tests.example_app.models import ExampleNote

    (note_id,) = await _notes(session, "kept")
    assert (await get_or_404(session, ExampleNote, note_id, NotFound())).text == "kept"
    with pytest.raises(NotFound, match="No such note"):
        await get_or_404(session, ExampleNote, note_id + 1, lambda: NotFound("No such note"))


async def test_a_connection_goes_back_to_the_pool_without_an_open_transaction(settings: Any) -> None:
    """MariaDB returns a connection to the pool without a ROLLBACK when the server reports no
    open transaction (after a COMMIT). Whatever was left open, by SQLAlchemy or by the driver
    used directly, must still be rolled back before the next user gets the connection."""
    from sqlalchemy import text

    from basis.core.db import Database
    from tests.example_app.models import ExampleNote

    notes = ExampleNote.__table__
    db = Database(settings.resolved_database_url, pool_size=1, max_overflow=0)
    try:
        async with db.engine.connect() as conn:  # left open through SQLAlchemy
            await conn.execute(notes.insert().values(text="left open"))
        if db.backend == "mysql":  # left open through the driver, which SQLAlchemy does not see
            async with db.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                async with raw.cursor() as cursor:
                    await cursor.execute(
                        "INSERT INTO example_notes (text, created_at) VALUES ('left open', UTC_TIMESTAMP(3))"
                    )
        async with db.engine.connect() as conn:
            assert list(await conn.scalars(select(notes.c.id).where(notes.c.text == "left open"))) == []
            if db.backend != "mysql":
                return
            rollbacks = text("SHOW SESSION STATUS LIKE 'Com_rollback'")
            before = (await conn.execute(rollbacks)).one()[1]
            await conn.execute(notes.insert().values(text="committed"))
            await conn.commit()
        async with db.engine.connect() as conn:  # the pool's one connection, back after a COMMIT
            assert (await conn.execute(rollbacks)).one()[1] == before
            await conn.execute(notes.delete().where(notes.c.text == "committed"))
            await conn.commit()
    finally:
        await db.dispose()
