"""TimeTracker's staff pages and the reset page in a real headless Chromium against a live
server (issue 17, issue 12.9): an admin in English, an operator in Ukrainian, one browser.

Screenshots are kept in ``build/screenshots/staff-pages/`` (git-ignored). Every request the
browser makes is recorded: none may leave the machine."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.time import utcnow
from basis.identity.models import PasswordResetToken
from basis.identity.tokens import digest
from tests.fixtures.auth import DEFAULT_PASSWORD, MakeUser
from tests.support import browser as browser_support

pytestmark = [pytest.mark.browser, pytest.mark.slow]
chromium = browser_support.chromium
SHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots" / "staff-pages"


async def _context(browser: Any, locale: str, seen: list[str]) -> Any:
    context = await browser.new_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    context.on("request", lambda request: seen.append(request.url))
    return context


def _accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))


async def _menu(page: Any, item: str) -> None:
    """Open a page through the panel's menu (the TimeTracker category folds)."""
    link = page.locator(f"text={item}").first
    if not await link.is_visible():
        await page.click("text=TimeTracker")
    await link.click()


def _past_day() -> dt.date:
    """A day whose 07:00-17:00 is past in every time zone, whenever the suite runs: manual
    events in the future are refused."""
    return (utcnow() - dt.timedelta(days=2)).date()


async def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_staff_do_the_days_work_in_english_and_in_ukrainian(
    backend: str,
    chromium: str,
    make_user: MakeUser,
    session: AsyncSession,
    live_servers: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.async_api import async_playwright

    await make_user(role="admin", email="boss@example.com")
    await make_user(role="operator", email="floor@example.com")
    reader = await make_user(email="reader@example.com")
    raw = "browser-reset-code-0001"
    session.add(
        PasswordResetToken(
            token=digest(raw), user_id=reader.id, expires_at=utcnow() + dt.timedelta(hours=1), used=False
        )
    )
    await session.commit()
    base = browser_support.fixed_public_url(monkeypatch)
    month = utcnow().strftime("%Y-%m")
    past_day = _past_day()
    seen: list[str] = []
    with live_servers(1, public_url=base) as (url,):
        assert url == base
        async with httpx.AsyncClient(base_url=base) as http:
            login = await http.post(
                "/auth/login", json={"email": "boss@example.com", "password": DEFAULT_PASSWORD}
            )
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            people = []
            for name, uid in (("Олена Шевченко", "04:AA:01"), ("Петро Іваненко", "04:AA:02")):
                created = await http.post(
                    "/api/employees", json={"full_name": name, "nfc_uid": uid}, headers=admin
                )
                assert created.status_code == 201, created.text
                people.append(created.json())
        async with async_playwright() as pw:
            browser = await browser_support.launch(pw, chromium)
            try:
                # --- An admin, in English: terminal set-up with its QR code, the grid, the live dashboard.
                context = await _context(browser, "en-US", seen)
                page = await context.new_page()
                _accept_dialogs(page)
                await browser_support.admin_login(page, base, "boss@example.com")
                await _menu(page, "Terminal set-up")
                await page.wait_for_url(f"{base}/admin/timetracker/terminals")
                await page.fill("#terminal-create input[name=name]", "Front door")
                await page.fill(
                    "#terminal-create input[name=server]", "http://192.168.1.20:8000"
                )  # page on 127.0.0.1
                await page.click("#terminal-create button[type=submit]")
                await page.wait_for_selector("#provisioning-qr")
                key = (await page.inner_text("#provisioning-key")).strip()
                assert (await page.inner_text("#provisioning-server")).strip() == "http://192.168.1.20:8000"
                await _shot(page, "admin-en-terminal-qr")

                await _menu(page, "Schedule grid")
                await page.wait_for_url(f"{base}/admin/timetracker/schedule")
                first_row = page.locator(f"tr[data-e='{people[0]['id']}'] td.grid-cell")
                for n in range(3):
                    await first_row.nth(n).click()
                await page.fill("#grid-shift", "09:00-17:00")
                await page.click("#grid-apply")
                assert await page.inner_text(f"tr[data-e='{people[0]['id']}'] .grid-total") == "24:00"
                await page.click("#grid-save")
                await page.wait_for_selector("#grid-message")
                assert await page.inner_text(f"tr[data-e='{people[0]['id']}'] .grid-total") == "24:00"
                await _shot(page, "admin-en-schedule-grid")

                await _menu(page, "Day dashboard")
                await page.wait_for_url(f"{base}/admin/timetracker/day")
                await page.wait_for_function("document.body.dataset.live === 'on'")
                async with httpx.AsyncClient(base_url=base) as http:
                    scan = await http.post(
                        "/api/terminal/scan", json={"uid": "04:AA:02"}, headers={"X-Terminal-Key": key}
                    )
                    assert scan.status_code in (200, 201), scan.text
                await page.wait_for_selector(
                    "#day-scans >> text=Петро Іваненко", timeout=15000
                )  # live, no reload
                await _shot(page, "admin-en-day-dashboard")
                await context.close()

                # --- An operator, in Ukrainian: statistics, manual events, the grid; no terminal set-up.
                context = await _context(browser, "uk-UA", seen)
                page = await context.new_page()
                _accept_dialogs(page)
                await browser_support.admin_login(page, base, "floor@example.com")
                assert await page.locator("text=Terminal set-up").count() == 0
                refused = await page.goto(f"{base}/admin/timetracker/terminals")
                assert refused is not None and refused.status == 403
                await page.goto(f"{base}/admin/timetracker/manual")
                assert "Ручні події" in await page.content()
                await page.select_option("#manual-employee", str(people[0]["id"]))
                await page.fill("#manual-pick input[name=day]", past_day.isoformat())
                await page.click("#manual-show")
                await page.wait_for_selector("#manual-add")
                await page.select_option("#manual-verb", "pair")
                await page.fill("#manual-time", "08:00")
                await page.fill("#manual-time-out", "16:30")
                await page.fill("#manual-reason", "забула картку")
                await page.click("#manual-submit")
                await page.wait_for_selector("#manual-done")
                assert (await page.locator("#manual-events tbody tr").count()) == 2
                await _shot(page, "operator-uk-manual-events")

                await page.goto(f"{base}/admin/timetracker/stats?employee_id={people[0]['id']}")
                await page.wait_for_selector("#stats-chart")
                assert "Відпрацьовано" in await page.content()
                await _shot(page, "operator-uk-statistics")

                await page.goto(f"{base}/admin/timetracker/schedule?month={month}")
                assert "Графік" in await page.content()
                cell = page.locator(f"tr[data-e='{people[1]['id']}'] td.grid-cell").nth(0)
                await cell.click()
                await page.select_option("#grid-code", "vacation")
                await page.click("#grid-apply")
                await page.click("#grid-save")
                await page.wait_for_selector("#grid-message")
                assert "vacation" in await page.inner_text(f"tr[data-e='{people[1]['id']}']")
                await _shot(page, "operator-uk-schedule-grid")
                await context.close()

                # --- The reset link, in Ukrainian: the code comes from the fragment.
                context = await _context(browser, "uk-UA", seen)
                page = await context.new_page()
                await page.goto(f"{base}/reset-password#token={raw}")
                assert "Новий пароль" in await page.content()
                assert await page.is_hidden("#token-row") and "#token" not in page.url
                await page.fill("#new-password", "a fresh secret 42")
                await page.fill("#new-password-again", "a different one 42")
                await page.click("#reset-submit")
                assert await page.inner_text("#reset-error") == "Паролі не збігаються."
                await page.fill("#new-password", "short")
                await page.fill("#new-password-again", "short")
                await page.click("#reset-submit")
                assert await page.inner_text("#reset-error") == "Пароль закороткий."
                await page.fill("#new-password", "password")
                await page.fill("#new-password-again", "password")
                await page.click("#reset-submit")
                await page.locator(
                    "#reset-error", has_text="поширений"
                ).wait_for()  # the API's refusal, translated
                await page.fill("#new-password", "a fresh secret 42")
                await page.fill("#new-password-again", "a fresh secret 42")
                await page.click("#reset-submit")
                await page.wait_for_selector("#reset-done:not([hidden])")
                await _shot(page, "reader-uk-reset-done")
                await context.close()
            finally:
                await browser.close()
        async with httpx.AsyncClient(base_url=base) as http:
            signed = await http.post(
                "/auth/login", json={"email": "reader@example.com", "password": "a fresh secret 42"}
            )
            assert signed.status_code == 200
    hosts = {urlsplit(address).hostname for address in seen if not address.startswith("data:")}
    assert hosts == {"127.0.0.1"}, json.dumps(sorted(set(seen))[:20])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_roles_swap_languages_for_the_other_tasks(
    backend: str,
    chromium: str,
    make_user: MakeUser,
    live_servers: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tasks the first walk left to one role or one language: an admin in Ukrainian corrects
    a day, reads statistics, takes the schedule PDF and the payroll export and lists employees;
    an operator in English watches the day's dashboard, reads statistics, plans and exports."""
    from playwright.async_api import async_playwright
    from pypdf import PdfReader

    await make_user(role="admin", email="boss@example.com")
    await make_user(role="operator", email="floor@example.com")
    base = browser_support.fixed_public_url(monkeypatch)
    past_day = _past_day()
    seen: list[str] = []
    with live_servers(1, public_url=base) as (url,):
        assert url == base
        async with httpx.AsyncClient(base_url=base) as http:
            login = await http.post(
                "/auth/login", json={"email": "boss@example.com", "password": DEFAULT_PASSWORD}
            )
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            worker = await http.post(
                "/api/employees", json={"full_name": "Марія Коваленко", "nfc_uid": "04:BB:01"}, headers=admin
            )
            assert worker.status_code == 201, worker.text
            person = worker.json()
            terminal = await http.post("/api/terminals", json={"name": "Склад"}, headers=admin)
            assert terminal.status_code == 201, terminal.text
            key = terminal.json()["api_key"]
        async with async_playwright() as pw:
            browser = await browser_support.launch(pw, chromium)
            try:
                # --- An admin, in Ukrainian.
                context = await _context(browser, "uk-UA", seen)
                page = await context.new_page()
                _accept_dialogs(page)
                await browser_support.admin_login(page, base, "boss@example.com")
                await page.goto(f"{base}/admin/timetracker/manual?employee_id={person['id']}&day={past_day}")
                await page.wait_for_selector("#manual-add")
                await page.select_option("#manual-verb", "in")
                await page.fill("#manual-time", "07:45")
                await page.fill("#manual-reason", "картка вдома")
                await page.click("#manual-submit")
                await page.wait_for_selector("#manual-done")
                rows = page.locator("#manual-events tbody tr")
                assert await rows.count() == 1
                await rows.first.locator("input[name=reason]").fill("помилка")
                await rows.first.locator("button[type=submit]").click()
                await page.wait_for_selector("#manual-done")
                assert "Сканувань немає." in await page.inner_text("#manual-events")  # deleted
                await page.select_option("#manual-verb", "pair")
                await page.fill("#manual-time", "08:00")
                await page.fill("#manual-time-out", "12:00")
                await page.fill("#manual-reason", "відрядження")
                await page.click("#manual-submit")
                await page.wait_for_selector("#manual-done")
                assert await page.locator("#manual-events tbody tr").count() == 2
                await _shot(page, "admin-uk-manual-events")

                await page.goto(f"{base}/admin/timetracker/stats?employee_id={person['id']}")
                await page.wait_for_selector("#stats-chart")
                assert "Відпрацьовано" in await page.content()
                await _shot(page, "admin-uk-statistics")

                await page.goto(f"{base}/admin/timetracker/schedule")
                async with page.expect_download() as pdf_download:
                    await page.click("#schedule-pdf")
                pdf = await (await pdf_download.value).path()
                text = "".join(p.extract_text() or "" for p in PdfReader(pdf).pages)
                assert "Марія Коваленко" in text

                await page.goto(f"{base}/admin/timetracker/exports")
                async with page.expect_download() as csv_download:
                    await page.click("#export-csv")
                payroll = Path(await (await csv_download.value).path()).read_text(encoding="utf-8-sig")
                assert "Марія Коваленко" in payroll

                await page.goto(f"{base}/admin/employee/list")
                assert "Марія Коваленко" in await page.content()
                await _shot(page, "admin-uk-employees")
                await context.close()

                # --- An operator, in English.
                context = await _context(browser, "en-US", seen)
                page = await context.new_page()
                _accept_dialogs(page)
                await browser_support.admin_login(page, base, "floor@example.com")
                await _menu(page, "Day dashboard")
                await page.wait_for_url(f"{base}/admin/timetracker/day")
                await page.wait_for_function("document.body.dataset.live === 'on'")
                async with httpx.AsyncClient(base_url=base) as http:
                    scan = await http.post(
                        "/api/terminal/scan", json={"uid": "04:BB:01"}, headers={"X-Terminal-Key": key}
                    )
                    assert scan.status_code in (200, 201), scan.text
                await page.wait_for_selector("#day-scans >> text=Марія Коваленко", timeout=15000)
                await _shot(page, "operator-en-day-dashboard")

                await page.goto(f"{base}/admin/timetracker/stats?employee_id={person['id']}")
                await page.wait_for_selector("#stats-chart")
                assert "Worked" in await page.content()

                await page.goto(f"{base}/admin/timetracker/schedule")
                await page.locator(f"tr[data-e='{person['id']}'] td.grid-cell").nth(0).click()
                await page.fill("#grid-shift", "10:00-14:00")
                await page.click("#grid-apply")
                await page.click("#grid-save")
                await page.wait_for_selector("#grid-message")
                assert await page.inner_text(f"tr[data-e='{person['id']}'] .grid-total") == "4:00"
                await _shot(page, "operator-en-schedule-grid")

                await page.goto(f"{base}/admin/timetracker/exports")
                async with page.expect_download() as xlsx_download:
                    await page.click("#export-xlsx")
                assert (await (await xlsx_download.value).path()).stat().st_size > 0
                refused = await page.goto(f"{base}/admin/employee/list")
                assert refused is not None and refused.status in (403, 404)
                await context.close()
            finally:
                await browser.close()
    hosts = {urlsplit(address).hostname for address in seen if not address.startswith("data:")}
    assert hosts == {"127.0.0.1"}, json.dumps(sorted(set(seen))[:20])
