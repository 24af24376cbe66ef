"""The admin panel in a real headless Chromium against a live server process."""

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


# One browser run is enough: the panel's database behaviour is covered per backend elsewhere.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_admin_lists_and_deactivates_and_a_user_cannot_enter(
    backend: str,
    chromium: str,
    make_user: MakeUser,
    live_servers: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    await make_user(role="admin", email="boss@example.com")
    await make_user(role="user", email="floor@example.com")  # operators enter: issue 17
    worker = await make_user(email="worker@example.com", full_name="Wanda Worker")
    base = browser_support.fixed_public_url(monkeypatch)
    with live_servers(1, public_url=base) as (url,):
        assert url == base
        async with async_playwright() as pw:
            browser = await browser_support.launch(pw, chromium)
            try:
                # A user without a staff role is turned away at the door.
                page = await browser.new_page()
                await page.goto(f"{base}/admin/")
                assert page.url.endswith("/admin/login")
                await browser_support.submit_login(page, "floor@example.com")
                await page.wait_for_load_state()
                assert page.url.endswith("/admin/login")
                assert "Invalid credentials" in await page.content()
                await page.goto(f"{base}/admin/user/list")
                assert page.url.endswith("/admin/login")
                await page.close()

                # An admin logs in, lists the users and deactivates one.
                context = await browser.new_context()
                page = await context.new_page()
                await browser_support.admin_login(page, base, "boss@example.com")
                await page.click("text=Users")
                await page.wait_for_url(f"{base}/admin/user/list*")
                listing = await page.content()
                assert "worker@example.com" in listing and "floor@example.com" in listing
                assert "$argon2" not in listing
                await page.screenshot(path=str(tmp_path / "users.png"))
                await page.goto(f"{base}/admin/user/details/{worker.id}")
                await page.click("text=Deactivate")
                await page.wait_for_url(f"{base}/admin/user/action/deactivate?pks={worker.id}")
                assert "end all their sessions" in await page.content()
                await page.click("#confirm-action")
                await page.wait_for_url(f"{base}/admin/user/list")
                await context.close()
            finally:
                await browser.close()
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post(
                "/auth/login", json={"email": "worker@example.com", "password": DEFAULT_PASSWORD}
            )
            assert response.status_code == 401
            users = await http.post(
                "/auth/login", json={"email": "boss@example.com", "password": DEFAULT_PASSWORD}
            )
            token = users.json()["access_token"]
            found = await http.get(f"/users/{worker.id}", headers={"Authorization": f"Bearer {token}"})
            assert found.json()["is_active"] is False


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_admin_logs_in_at_127_0_0_1_and_at_localhost(
    backend: str,
    chromium: str,
    make_user: MakeUser,
    live_servers: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 12.1: the public URL names localhost, uvicorn prints 127.0.0.1; both must work.
    from playwright.async_api import async_playwright

    await make_user(role="admin", email="anywhere@example.com")
    numeric = browser_support.fixed_public_url(monkeypatch)
    named = numeric.replace("127.0.0.1", "localhost")
    with live_servers(1, public_url=named) as (url,):
        assert url == numeric
        async with async_playwright() as pw:
            browser = await browser_support.launch(pw, chromium)
            try:
                for base in (numeric, named):
                    context = await browser.new_context()
                    page = await context.new_page()
                    await browser_support.admin_login(page, base, "anywhere@example.com")
                    await page.click("text=Users")
                    await page.wait_for_url(f"{base}/admin/user/list*")
                    assert "anywhere@example.com" in await page.content()
                    await context.close()
            finally:
                await browser.close()
