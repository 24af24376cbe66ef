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
