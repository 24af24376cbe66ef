"""``basis messenger``: demo data, figures and the search reindex, as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import search
from tests.support.live import ROOT, settings_env

pytestmark = pytest.mark.slow
INDEX = {
    "sqlite": "INSERT INTO messenger_messages_fts(messenger_messages_fts) VALUES ('delete-all')",
    "postgresql": "DELETE FROM messenger_messages_tsv",
    "mariadb": "DELETE FROM messenger_messages_ft",
}


def _cli(settings_values: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basis.cli", "messenger", *args],
        env={
            **settings_env({**settings_values, "apps": ["messenger"]}),
            "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        },
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )


async def _found(session: AsyncSession, user_id: int) -> int:
    hits = await search.search(session=session, user_id=user_id, query="coffee", chat_id=None, limit=100)
    await session.rollback()
    return len(hits)


async def test_demo_stats_and_reindex(
    session: AsyncSession, settings_values: dict[str, Any], backend: str
) -> None:
    made = _cli(settings_values, "demo", "--size", "small")
    assert made.returncode == 0, made.stderr
    assert "demo data ready" in made.stdout
    figures = dict(line.split(": ", 1) for line in _cli(settings_values, "stats").stdout.splitlines())
    assert figures["messages"] == "5000" and figures["groups"] == "10"
    # MariaDB: the test suite empties tables with foreign keys off, leaving earlier tests' rows.
    assert int(figures["search index rows"]) >= 5000

    member = (await session.execute(text("SELECT user_id FROM messenger_chat_members LIMIT 1"))).scalar_one()
    await session.rollback()
    before = await _found(session, member)
    assert before > 0
    await session.execute(text(INDEX[backend]))
    await session.commit()
    assert await _found(session, member) == 0  # the index is what answers

    rebuilt = _cli(settings_values, "reindex")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5000 message(s)" in rebuilt.stdout
    assert await _found(session, member) == before
    bad = _cli(settings_values, "demo", "--size", "huge")
    assert bad.returncode == 2 and "small or full" in bad.stderr
