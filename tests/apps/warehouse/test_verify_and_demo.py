"""W1 checked over the whole database (service and `basis warehouse verify`), and the demo data."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tests.apps.warehouse.conftest import Warehouse
from tests.support.live import ROOT, settings_env

from basis.apps.warehouse import stock as service
from basis.apps.warehouse.demo import demo
from basis.apps.warehouse.models import Product, StockLevel, StockMovement
from basis.settings import Settings


def _cli(settings_values: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basis.cli", "warehouse", *args],
        env={**settings_env(settings_values), "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.slow
async def test_verify_reports_a_level_that_left_its_ledger(
    wh: Warehouse, session: AsyncSession, settings_values: dict[str, Any]
) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 8)
    await wh.move(product["id"], "outgoing", 3)
    assert await service.verify(session=session) == []

    await session.execute(
        update(StockLevel).where(StockLevel.product_id == product["id"]).values(quantity=Decimal(6))
    )
    await session.commit()
    (drift,) = await service.verify(session=session)
    assert (drift.product_id, drift.level, drift.ledger, drift.last_balance) == (product["id"], 6, 5, 5)

    dirty = _cli(settings_values, "verify")
    assert dirty.returncode == 1, dirty.stderr
    assert "DRIFT" in dirty.stderr and f"{product['id']};" in dirty.stdout


async def test_small_demo_data_is_consistent(
    session: AsyncSession, settings: Settings, make_user: Any
) -> None:
    await make_user(role="operator")
    calls: list[tuple[int, int | None]] = []

    def progress(advance: int = 1, total: int | None = None, description: str | None = None) -> None:
        calls.append((advance, total))

    await demo(session=session, settings=settings, progress=progress, size="small")

    products = await session.scalar(select(func.count()).select_from(Product))
    movements = await session.scalar(select(func.count()).select_from(StockMovement))
    types = set(await session.scalars(select(StockMovement.movement_type).distinct()))
    assert products == 300 and movements is not None and movements > 1000
    assert types == {"incoming", "outgoing", "adjustment", "transfer_out", "transfer_in"}
    assert await service.verify(session=session) == []
    assert any(total for _, total in calls)
    low = await service.low_stock(session=session)
    assert 0 < len(low) < 300
    # A second run leaves the data as it was.
    await demo(session=session, settings=settings, progress=progress, size="small")
    assert await session.scalar(select(func.count()).select_from(Product)) == 300
