"""Shared pieces of the admin panel browser tests: a headless Chromium and the panel login."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.fixtures.auth import DEFAULT_PASSWORD
from tests.support import backends as tb
from tests.support import live

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        if tb.in_ci():
            pytest.fail(f"{CHROMIUM} is missing; CI needs it for the admin panel browser test")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium) - browser test not run")
    return CHROMIUM


def fixed_public_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """A base URL on a port chosen now, which the live server will use.

    The panel accepts form posts only from the public URL's origin, so serve on a known port.
    """
    port = live.free_port()
    monkeypatch.setattr(live, "free_port", lambda: port)
    return f"http://127.0.0.1:{port}"


async def launch(pw: Any, chromium: str) -> Any:
    return await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)


async def submit_login(page: Any, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Fill in and send the panel's login form on the current page."""
    await page.fill("input[name=username]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def admin_login(page: Any, base: str, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Log in to the panel and wait for its home page."""
    await page.goto(f"{base}/admin/login")
    await submit_login(page, email, password)
    await page.wait_for_url(f"{base}/admin/")
