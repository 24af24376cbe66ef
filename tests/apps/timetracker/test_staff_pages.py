# ruff: noqa: RUF001 - Ukrainian dates and names
"""TimeTracker's staff pages in the admin panel (issue 17.1): the schedule month grid saved in
one batch, its PDF, terminals with the provisioning QR code. Over HTTP as a browser sends them."""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import io
import json
import re

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import func, select

from basis.apps.timetracker.models import AuditEntry, Event, Schedule, Terminal
from tests.apps.timetracker.conftest import TT
from tests.fixtures.auth import DEFAULT_PASSWORD

OWN = {"Origin": "http://testserver"}
FOREIGN = {"Origin": "https://evil.example.net"}
UK = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}


async def _panel(tt: TT, email: str = "pages@example.com") -> None:
    await tt.make_user(role="admin", email=email)
    response = await tt.client.post(
        "/admin/login", data={"username": email, "password": DEFAULT_PASSWORD}, headers=OWN
    )
    assert response.status_code == 302, response.text


async def _cells(tt: TT, employee_id: int) -> dict[dt.date, tuple[str, str | None]]:
    rows = await tt.session.execute(
        select(Schedule.day, Schedule.code, Schedule.start).where(Schedule.employee_id == employee_id)
    )
    await tt.session.rollback()
    return {day: (code, start.strftime("%H:%M") if start else None) for day, code, start in rows}


async def test_month_grid_saves_one_batch_and_refuses_it_whole(tt: TT) -> None:
    anna = await tt.employee(full_name="Анна Коваленко", position="Касир")
    await _panel(tt)
    page = await tt.client.get("/admin/timetracker/schedule?month=2026-03", headers=UK)
    assert page.status_code == 200, page.text
    assert "Анна Коваленко" in page.text and "Касир" in page.text
    assert "Графік" in page.text and "березень" in page.text and page.headers["content-language"] == "uk"
    assert page.text.count('class="grid-cell"') == 31  # one row of March

    cells = [
        {"employee_id": anna["id"], "day": "2026-03-02", "code": "09:00-18:00"},
        {"employee_id": anna["id"], "day": "2026-03-03", "code": "22-06"},
        {"employee_id": anna["id"], "day": "2026-03-04", "code": "vacation"},
    ]
    form = {"month": "2026-03", "cells": json.dumps(cells)}
    assert (
        await tt.client.post("/admin/timetracker/schedule", data=form, headers=FOREIGN)
    ).status_code == 403
    saved = await tt.client.post("/admin/timetracker/schedule", data=form, headers=OWN)
    assert saved.status_code == 303 and "saved=3" in saved.headers["location"]
    assert await _cells(tt, anna["id"]) == {
        dt.date(2026, 3, 2): ("work", "09:00"),
        dt.date(2026, 3, 3): ("work", "22:00"),
        dt.date(2026, 3, 4): ("vacation", None),
    }
    page = await tt.client.get("/admin/timetracker/schedule?month=2026-03&saved=3")
    assert ">17:00<" in page.text  # 9 h + 8 h planned in the row's total
    assert "Saved 3 cells." in page.text

    # One bad cell: nothing of the batch is stored, and the page names the cell.
    bad = [
        {"employee_id": anna["id"], "day": "2026-03-02", "code": ""},
        {"employee_id": anna["id"], "day": "2026-03-05", "code": "25-99"},
    ]
    refused = await tt.client.post(
        "/admin/timetracker/schedule", data={"month": "2026-03", "cells": json.dumps(bad)}, headers=OWN
    )
    assert refused.status_code == 303 and "error=" in refused.headers["location"]
    shown = await tt.client.get(refused.headers["location"])
    assert "2026-03-05" in shown.text and 'id="grid-error"' in shown.text
    assert dt.date(2026, 3, 2) in await _cells(tt, anna["id"])

    # Clearing a cell deletes it, and every change is in the audit trail.
    cleared = [{"employee_id": anna["id"], "day": "2026-03-02", "code": ""}]
    done = await tt.client.post(
        "/admin/timetracker/schedule", data={"month": "2026-03", "cells": json.dumps(cleared)}, headers=OWN
    )
    assert done.status_code == 303 and "saved=1" in done.headers["location"]
    assert dt.date(2026, 3, 2) not in await _cells(tt, anna["id"])
    actions = list(await tt.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "schedule")))
    await tt.session.rollback()
    assert actions.count("create") == 3 and actions.count("delete") == 1

    broken = await tt.client.post(
        "/admin/timetracker/schedule", data={"month": "2026-03", "cells": "{not json"}, headers=OWN
    )
    assert broken.status_code == 303 and "error=" in broken.headers["location"]


async def test_schedule_pdf_has_cyrillic_names_every_day_and_the_totals(tt: TT) -> None:
    olena = await tt.employee(full_name="Олена Шевченко")
    petro = await tt.employee(full_name="Петро Іваненко")
    cells = [{"employee_id": olena["id"], "day": f"2026-02-{d:02d}", "code": "8-16"} for d in (2, 3, 4)]
    cells.append({"employee_id": petro["id"], "day": "2026-02-10", "code": "07:30-12:00"})
    cells.append({"employee_id": petro["id"], "day": "2026-02-11", "code": "sick"})
    response = await tt.client.post("/api/schedules", json={"cells": cells}, headers=tt.admin)
    assert response.status_code == 200, response.text
    await _panel(tt)
    pdf = await tt.client.get("/admin/timetracker/schedule.pdf?from=2026-02-01&to=2026-02-28", headers=UK)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Олена Шевченко" in text and "Петро Іваненко" in text
    assert "testserver" in text and "Графік" in text
    numbers = set(re.findall(r"\b\d{1,2}\b", text))
    assert {str(day) for day in range(1, calendar.monthrange(2026, 2)[1] + 1)} <= numbers
    assert "24:00" in text and "4:30" in text and "28:30" in text  # rows and the grand total
    assert "Л" in text  # sick leave, as the original's grid writes it
    assert (
        await tt.client.get("/admin/timetracker/schedule.pdf?from=2026-02-10&to=2026-01-01")
    ).status_code == 422
    assert (await tt.client.get("/admin/timetracker/schedule.pdf?from=x")).status_code == 422


def _qr_payload(page: str) -> dict[str, object]:
    import zxingcpp

    match = re.search(r'id="provisioning-qr"[^>]*src="data:image/png;base64,([^"]+)"', page)
    assert match is not None
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
    [found] = zxingcpp.read_barcodes(image)
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return json.loads(found.text)


async def test_terminal_created_on_the_page_has_a_qr_code_whose_key_scans(tt: TT) -> None:
    worker = await tt.employee()
    await _panel(tt)
    listing = await tt.client.get("/admin/timetracker/terminals")
    assert listing.status_code == 200 and 'id="terminal-create"' in listing.text
    assert 'name="server"' not in listing.text  # the public URL is not this machine: no need to type it
    refused = await tt.client.post("/admin/timetracker/terminals", data={"name": "Gate"}, headers=FOREIGN)
    assert refused.status_code == 403

    created = await tt.client.post(
        "/admin/timetracker/terminals", data={"name": "Вхід 1", "location": "Hall"}, headers=OWN
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    payload = _qr_payload(created.text)
    terminal_id = await tt.session.scalar(select(Terminal.id).where(Terminal.name == "Вхід 1"))
    await tt.session.rollback()
    assert set(payload) == {"server", "api_key", "terminal_id", "terminal_name"}
    assert payload["server"] == "http://testserver" and payload["terminal_id"] == terminal_id
    assert payload["terminal_name"] == "Вхід 1"
    key = str(payload["api_key"])
    assert (await tt.scan(key, worker["nfc_uid"])).status_code in (200, 201)
    # The key is shown once: the list does not carry it.
    assert key not in (await tt.client.get("/admin/timetracker/terminals")).text

    duplicate = await tt.client.post("/admin/timetracker/terminals", data={"name": "Вхід 1"}, headers=OWN)
    assert duplicate.status_code == 409 and 'id="terminal-error"' in duplicate.text

    unconfirmed = await tt.client.post(f"/admin/timetracker/terminals/{terminal_id}/rotate", headers=OWN)
    assert unconfirmed.status_code == 422
    rotated = await tt.client.post(
        f"/admin/timetracker/terminals/{terminal_id}/rotate", data={"confirmed": "1"}, headers=OWN
    )
    assert rotated.status_code == 200
    new_key = str(_qr_payload(rotated.text)["api_key"])
    assert new_key != key and (await tt.scan(key, worker["nfc_uid"])).status_code == 401

    disabled = await tt.client.post(
        f"/admin/timetracker/terminals/{terminal_id}/toggle", data={"confirmed": "1"}, headers=OWN
    )
    assert disabled.status_code == 303
    assert (await tt.scan(new_key, worker["nfc_uid"])).status_code in (401, 403)
    actions = set(await tt.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "terminal")))
    await tt.session.rollback()
    assert {"create", "rotate_key", "update"} <= actions


@pytest.mark.parametrize(
    ("public_url", "page_host", "asks"),
    [
        ("http://localhost:8000", "localhost", True),
        ("http://127.0.0.1:8000", "127.0.0.1", True),
        ("https://tt.example.com", "localhost", False),
        ("https://tt.example.com", "tt.example.com", False),
    ],
)
def test_the_server_address_is_typed_only_when_the_page_is_on_this_machine(
    public_url: str, page_host: str, asks: bool
) -> None:
    from starlette.requests import Request

    from basis.apps.timetracker.staff_pages import on_local_host, server_address

    request = Request(
        {
            "type": "http",
            "headers": [(b"host", page_host.encode())],
            "scheme": "http",
            "path": "/",
            "query_string": b"",
            "server": (page_host, 80),
        }
    )
    assert on_local_host(request, public_url) is asks
    typed = server_address({"server": "http://192.168.1.20:8000/"}, request, public_url)
    assert typed == ("http://192.168.1.20:8000" if asks else public_url)
    if asks:
        assert server_address({"server": "javascript:alert(1)"}, request, public_url) is None


async def test_operators_plan_and_correct_but_do_not_manage_terminals(tt: TT) -> None:
    worker = await tt.employee(full_name="Oksana Operator-Planned")
    terminal_id, _ = await tt.terminal(name="Back door")
    await tt.make_user(role="operator", email="floor-op@example.com")
    signed = await tt.client.post(
        "/admin/login", data={"username": "floor-op@example.com", "password": DEFAULT_PASSWORD}, headers=OWN
    )
    assert signed.status_code == 302
    home = await tt.client.get("/admin/")
    assert "/admin/timetracker/schedule" in home.text and "/admin/timetracker/terminals" not in home.text
    assert (await tt.client.get("/admin/timetracker/schedule")).status_code == 200
    cells = [{"employee_id": worker["id"], "day": "2026-04-01", "code": "8-16"}]
    saved = await tt.client.post(
        "/admin/timetracker/schedule", data={"month": "2026-04", "cells": json.dumps(cells)}, headers=OWN
    )
    assert saved.status_code == 303 and "saved=1" in saved.headers["location"]
    assert (await tt.client.get("/admin/event/list")).status_code == 200
    for refused in (
        await tt.client.get("/admin/timetracker/terminals"),
        await tt.client.post("/admin/timetracker/terminals", data={"name": "Mine"}, headers=OWN),
        await tt.client.post(
            f"/admin/timetracker/terminals/{terminal_id}/rotate", data={"confirmed": "1"}, headers=OWN
        ),
        await tt.client.get("/admin/terminal/list"),
        await tt.client.get("/admin/employee/create"),
        await tt.client.get("/admin/user/list"),
    ):
        assert refused.status_code == 403
    count = await tt.session.scalar(select(func.count()).select_from(Terminal))
    await tt.session.rollback()
    assert count == 1


async def test_employee_statistics_show_plan_against_actual_with_a_chart(tt: TT) -> None:
    worker = await tt.employee(full_name="Богдан Late")
    cells = [{"employee_id": worker["id"], "day": "2026-03-10", "code": "09:00-17:00"}]
    assert (
        await tt.client.post("/api/schedules", json={"cells": cells}, headers=tt.admin)
    ).status_code == 200
    assert (await tt.manual(worker["id"], "2026-03-10T09:20:00", "IN")).status_code == 201
    assert (await tt.manual(worker["id"], "2026-03-10T18:00:00", "OUT")).status_code == 201
    assert (await tt.manual(worker["id"], "2026-03-11T08:00:00", "IN")).status_code == 201
    await _panel(tt)
    page = await tt.client.get(
        f"/admin/timetracker/stats?employee_id={worker['id']}&from=2026-03-09&to=2026-03-15", headers=UK
    )
    assert page.status_code == 200, page.text
    assert (
        "Богдан Late" in page.text and '<svg xmlns="http://www.w3.org/2000/svg" id="stats-chart"' in page.text
    )
    totals = page.text.split('id="stats-totals"', 1)[1].split("</dl>", 1)[0]
    assert ">8:40<" in totals and ">8:00<" in totals  # worked 9:20-18:00, planned 8 h
    assert ">20<" in totals  # 20 minutes late
    days = page.text.split('id="stats-days"', 1)[1].split("</table>", 1)[0]
    assert "MISSING_OUT" in days.split("11 бер.", 1)[1].split("</tr>", 1)[0]  # the 11th has no OUT
    assert 'id="stats-weeks"' in page.text and 'id="stats-months"' in page.text
    too_long = await tt.client.get(
        f"/admin/timetracker/stats?employee_id={worker['id']}&from=2026-01-01&to=2026-12-31"
    )
    assert too_long.status_code == 200 and 'id="stats-error"' in too_long.text


async def test_day_dashboard_lists_the_days_scans_and_who_is_in(tt: TT) -> None:
    _, key = await tt.terminal(name="Dashboard door")
    early, late = await tt.employee(full_name="Early Bird"), await tt.employee(full_name="Still Inside")
    assert (await tt.scan(key, early["nfc_uid"], direction="IN")).status_code in (200, 201)
    assert (await tt.scan(key, late["nfc_uid"], direction="IN")).status_code in (200, 201)
    await _panel(tt)
    page = await tt.client.get("/admin/timetracker/day")
    assert page.status_code == 200
    scans = page.text.split('id="day-scans"', 1)[1].split("</table>", 1)[0]
    assert scans.index("Early Bird") < scans.index("Still Inside")
    present = page.text.split('id="day-present"', 1)[1].split("</table>", 1)[0]
    assert "Early Bird" in present and "Still Inside" in present
    assert 'data-feed="http://testserver/admin/timetracker/feed"' in page.text
    assert "token" not in page.text.split('id="dashboard"', 1)[1].split(">", 1)[0]
    other_day = await tt.client.get("/admin/timetracker/day?day=2020-01-01")
    assert "Early Bird" not in other_day.text.split('id="day-scans"', 1)[1].split("</table>", 1)[0]


async def _live_events(tt: TT, employee_id: int) -> list[tuple[str, str | None]]:
    rows = await tt.session.execute(
        select(Event.direction, Event.comment)
        .where(Event.employee_id == employee_id, Event.deleted_at.is_(None))
        .order_by(Event.ts)
    )
    await tt.session.rollback()
    return [(direction, comment) for direction, comment in rows]


async def test_manual_events_are_added_deleted_and_cleared_with_a_reason(tt: TT) -> None:
    worker = await tt.employee(full_name="Manual Marta")
    await _panel(tt)
    url = "/admin/timetracker/manual"
    base = {"employee_id": str(worker["id"]), "day": "2026-05-04", "confirmed": "1"}
    no_reason = await tt.client.post(
        url, data={**base, "verb": "in", "time": "08:00", "reason": " "}, headers=OWN
    )
    assert no_reason.status_code == 303 and "error=" in no_reason.headers["location"]
    unconfirmed = {**base, "verb": "in", "time": "08:00", "reason": "forgot the card"}
    del unconfirmed["confirmed"]
    assert "error=" in (await tt.client.post(url, data=unconfirmed, headers=OWN)).headers["location"]
    assert (
        await tt.client.post(url, data={**unconfirmed, "confirmed": "1"}, headers=FOREIGN)
    ).status_code == 403
    assert await _live_events(tt, worker["id"]) == []

    pair = {**base, "verb": "pair", "time": "08:00", "time_out": "16:30", "reason": "card at home"}
    done = await tt.client.post(url, data=pair, headers=OWN)
    assert done.status_code == 303 and "done=1" in done.headers["location"], done.headers["location"]
    assert await _live_events(tt, worker["id"]) == [("IN", "card at home"), ("OUT", "card at home")]
    page = await tt.client.get(f"{url}?employee_id={worker['id']}&day=2026-05-04", headers=UK)
    assert "Manual Marta" in page.text and "08:00:00" in page.text and "16:30:00" in page.text
    assert "Ручні події" in page.text

    # A second IN inside the same shift is refused by the service; its message comes back.
    refused = await tt.client.post(
        url, data={**base, "verb": "pair", "time": "09:00", "time_out": "10:00", "reason": "dup"}, headers=OWN
    )
    assert "error=" in refused.headers["location"]
    assert len(await _live_events(tt, worker["id"])) == 2  # nothing half-written

    event_id = await tt.session.scalar(
        select(Event.id).where(Event.employee_id == worker["id"], Event.direction == "OUT")
    )
    await tt.session.rollback()
    deleted = await tt.client.post(
        url, data={**base, "verb": "delete", "event_id": str(event_id), "reason": "wrong time"}, headers=OWN
    )
    assert "done=1" in deleted.headers["location"]
    assert await _live_events(tt, worker["id"]) == [("IN", "card at home")]
    cleared = await tt.client.post(
        url, data={**base, "verb": "clear", "reason": "day off after all"}, headers=OWN
    )
    assert "done=1" in cleared.headers["location"]
    assert await _live_events(tt, worker["id"]) == []
    reasons = list(
        await tt.session.scalars(
            select(AuditEntry.reason).where(AuditEntry.entity == "event", AuditEntry.action == "delete")
        )
    )
    await tt.session.rollback()
    assert {"wrong time", "day off after all"} <= set(reasons)


async def test_exports_of_a_period_in_csv_and_xlsx(tt: TT) -> None:
    worker = await tt.employee(full_name="Export Emil")
    assert (await tt.manual(worker["id"], "2026-06-01T09:00:00", "IN")).status_code == 201
    assert (await tt.manual(worker["id"], "2026-06-01T17:00:00", "OUT")).status_code == 201
    await _panel(tt)
    form = await tt.client.get("/admin/timetracker/exports")
    assert form.status_code == 200 and 'id="export-csv"' in form.text
    csv = await tt.client.get("/admin/timetracker/exports?from=2026-06-01&to=2026-06-30&format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "Export Emil" in csv.content.decode("utf-8-sig") and "8:00" in csv.content.decode("utf-8-sig")
    xlsx = await tt.client.get("/admin/timetracker/exports?from=2026-06-01&to=2026-06-30&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    bad = await tt.client.get("/admin/timetracker/exports?from=2026-06-30&to=2026-06-01&format=csv")
    assert bad.status_code == 422


async def test_the_language_chosen_on_a_page_is_kept_for_basis_pages(tt: TT) -> None:
    await _panel(tt)
    page = await tt.client.get("/admin/timetracker/exports")
    assert 'id="language-switch"' in page.text and "Exports" in page.text
    url = "/admin/timetracker/language"
    form = {"lang": "uk", "next": "/admin/timetracker/exports"}
    assert (await tt.client.post(url, data=form, headers=FOREIGN)).status_code == 403
    chosen = await tt.client.post(url, data=form, headers=OWN)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/admin/timetracker/exports"
    assert "basis_lang=uk" in chosen.headers["set-cookie"] and "Path=/" in chosen.headers["set-cookie"]
    assert "Експорт" in (await tt.client.get("/admin/timetracker/exports")).text
    assert "Новий пароль" in (await tt.client.get("/reset-password")).text
    away = await tt.client.post(url, data={"lang": "xx", "next": "//evil.example.net/"}, headers=OWN)
    assert away.headers["location"] == "/admin/" and "set-cookie" not in away.headers
