"""The warehouse admin views in a real headless Chromium against a live server process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fixtures.auth import DEFAULT_PASSWORD, MakeUser
from tests.support import browser as browser_support

pytestmark = [pytest.mark.browser, pytest.mark.slow]

chromium = browser_support.chromium


async def _seed(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as http:
        login = await http.post(
            "/auth/login", json={"email": "boss@example.com", "password": DEFAULT_PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        low = await http.post(
            "/products",
            json={"name": "Work gloves", "sku": "GLV-1", "min_quantity": 10, "current_quantity": 3},
            headers=headers,
        )
        full = await http.post(
            "/products",
            json={"name": "Safety helmet", "sku": "HLM-1", "min_quantity": 2, "current_quantity": 40},
            headers=headers,
        )
        moved = await http.post(
            "/stock-movements",
            json={
                "product_id": full.json()["id"],
                "movement_type": "outgoing",
                "quantity": 5,
                "reference": "ORD-777",
            },
            headers=headers,
        )
        check = await http.post("/inventory-checks", json={"note": "Friday count"}, headers=headers)
        assert {r.status_code for r in (low, full, moved, check)} == {201}
        return {"low": low.json(), "full": full.json(), "movement": moved.json()}


# One browser run is enough: the views' queries are covered per backend by the API tests.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_admin_sees_catalogue_low_stock_and_a_read_only_ledger(
    backend: str,
    chromium: str,
    make_user: MakeUser,
    live_servers: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    await make_user(role="admin", email="boss@example.com")
    base = browser_support.fixed_public_url(monkeypatch)
    with live_servers(1, public_url=base) as (url,):
        assert url == base
        data = await _seed(base)
        async with async_playwright() as pw:
            browser = await browser_support.launch(pw, chromium)
            try:
                page = await browser.new_page()
                await browser_support.admin_login(page, base, "boss@example.com")

                await page.goto(f"{base}/admin/product/list")
                products = await page.content()
                assert "GLV-1" in products and "HLM-1" in products and "In stock" in products

                for view in (f"details/{data['low']['id']}", f"edit/{data['low']['id']}", "create"):
                    response = await page.goto(f"{base}/admin/product/{view}")
                    assert response is not None and response.status == 200, view
                    assert "GLV-1" in await page.content() or view == "create"

                await page.goto(f"{base}/admin/low-stock/list")
                low = await page.content()
                assert "Work gloves" in low and "Safety helmet" not in low
                await page.screenshot(path=str(tmp_path / "low-stock.png"))

                await page.goto(f"{base}/admin/stock-movement/list")
                ledger = await page.content()
                assert "ORD-777" in ledger
                assert "/admin/stock-movement/create" not in ledger
                assert f"/admin/stock-movement/edit/{data['movement']['id']}" not in ledger
                for forbidden in ("create", f"edit/{data['movement']['id']}"):
                    response = await page.goto(f"{base}/admin/stock-movement/{forbidden}")
                    assert response is not None and response.status in (403, 404), forbidden

                await page.goto(f"{base}/admin/inventory-check/list")
                assert "Friday count" in await page.content()
                await page.goto(f"{base}/admin/category/list")
                await page.goto(f"{base}/admin/location/list")
                assert "Main warehouse" in await page.content()
            finally:
                await browser.close()
