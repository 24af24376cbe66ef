"""Demo data and ``basis exchange match``."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange.demo import demo
from basis.apps.exchange.models import Exchange, ListingItem, Participant, UserCity
from basis.settings import Settings
from tests.apps.exchange.conftest import ALMATY
from tests.apps.exchange.conftest import Exchange as Api
from tests.support.live import ROOT, settings_env


def _cli(settings_values: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basis.cli", "exchange", *args],
        env={**settings_env(settings_values), "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


async def test_small_demo_data_is_matched(session: AsyncSession, settings: Settings, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the same inserts on every backend: the data's shape is checked once")
    steps: list[Any] = []
    await demo(session=session, settings=settings, progress=lambda *a, **k: steps.append(a), size="small")
    assert await session.scalar(select(func.count()).select_from(ListingItem)) == 1010
    assert await session.scalar(select(func.count(func.distinct(UserCity.user_id)))) == 100
    kinds = set(await session.scalars(select(Exchange.kind)))
    assert kinds == {"pair", "chain"}
    proposals = await session.scalar(select(func.count()).select_from(Exchange))
    assert await session.scalar(select(func.count()).select_from(Participant)) >= 2 * proposals
    await demo(session=session, settings=settings, progress=lambda *a, **k: None, size="small")  # idempotent
    assert await session.scalar(select(func.count()).select_from(ListingItem)) == 1010


async def test_match_all_from_the_command_line(
    ex: Api, settings_values: dict[str, Any], backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the command calls the same service as run-pipeline: its database work is tested there")
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    await ex.settle()
    done = _cli(settings_values, "match")
    assert done.returncode == 2 and "--all" in done.stderr
    await ex.swap(alice, "property", "farm_products", 10_000)
    await ex.swap(bob, "farm_products", "property", 10_000)
    await ex.settle()
    done = _cli(settings_values, "match", "--all")
    assert done.returncode == 0, done.stderr
    assert "1 open" in done.stdout


def test_the_cli_says_that_background_rematching_needs_a_worker_with_redis() -> None:
    from typer.testing import CliRunner

    from basis.apps.exchange.cli import cli

    shown = CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "runs in `basis worker`" in shown.output
