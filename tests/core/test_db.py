from __future__ import annotations

import datetime as dt

from sqlalchemy import select
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
