"""The clinician's report (rules 22, 26, 32) in JSON, CSV, XLSX and PDF."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.apps.hemoday.conftest import HemoDay, Person, only, transfusion

HEADER = [
    "date",
    "component",
    "volume [ml]",
    "weight [kg]",
    "volume_per_kg [ml/kg]",
    "hb_before [g/l]",
    "hb_after [g/l]",
    "delta_hb [g/l]",
    "interval_days [days]",
    "chelator",
]


async def diary(hemoday: HemoDay) -> Person:
    parent = await hemoday.register()
    await parent.client.patch("/api/v1/family", json={"patient_name": "Аня Иванова"}, headers=parent.headers)
    await parent.pull()
    records = [
        transfusion("before", date="2025-12-20", chelator="Десферал", hb_before=80, hb_after=118),
        transfusion(
            "jan", date="2026-01-10", chelator="Десферал", volume=310, weight=31, hb_before=84, hb_after=121
        ),
        transfusion(
            "feb",
            date="2026-02-07T10:30",
            chelator="Эксиджад",
            volume=320,
            weight=32,
            hb_before=88,
            hb_after=125,
        ),
        transfusion("gone", date="2026-02-20", chelator="Джадену"),
        transfusion(
            "mar",
            date="2026-03-07",
            chelator="Эксиджад",
            volume=330,
            weight=32,
            hb_before=None,
            hb_after=None,
        ),
        transfusion("later", date="2026-04-30", chelator="Нет"),
    ]
    analyses = [
        {"id": "a1", "name": "Биохимический анализ", "date": "2026-01-15"},
        {"id": "a2", "name": "Биохимический анализ", "date": "2026-02-15"},
        {"id": "a0", "name": "Биохимический анализ", "date": "2025-11-15"},
    ]
    items = [
        {"id": "i1", "analysis_id": "a1", "name": "Ферритин", "value": "1 520,5", "unit": "нг/мл"},
        {"id": "i2", "analysis_id": "a2", "name": "Ferritin", "value": "1380", "unit": "мкг/л"},
        {"id": "i3", "analysis_id": "a2", "name": "АЛТ", "value": "40", "unit": "Ед/л"},
        {"id": "i0", "analysis_id": "a0", "name": "Ферритин", "value": "2000", "unit": "нг/мл"},
    ]
    await parent.push(
        {
            "transfusions": {"created": records, "updated": [], "deleted": []},
            "analyses": {"created": analyses, "updated": [], "deleted": []},
            "analysis_items": {"created": items, "updated": [], "deleted": []},
        }
    )
    await parent.pull()
    await parent.push(only("transfusions", "deleted", "gone"))
    return parent


async def report(person: Person, **params: Any) -> httpx.Response:
    return await person.client.get(
        "/api/v1/report", params={"from": "2026-01-01", "to": "2026-03-31", **params}, headers=person.headers
    )


async def test_json_report_rules(hemoday: HemoDay) -> None:
    parent = await diary(hemoday)
    body = (await report(parent)).json()
    assert body["patient_name"] == "Аня Иванова" and (body["from"], body["to"]) == (
        "2026-01-01",
        "2026-03-31",
    )
    rows = body["transfusions"]
    assert [r["date"] for r in rows] == ["2026-01-10", "2026-02-07", "2026-03-07"]
    assert [r["interval_days"] for r in rows] == [21, 28, 28]
    assert rows[0]["volume_per_kg"] == 10.0 and rows[0]["delta_hb"] == 37.0
    assert body["ferritin"] == [
        {"date": "2026-01-15", "value": 1520.5, "unit": "нг/мл"},
        {"date": "2026-02-15", "value": 1380.0, "unit": "мкг/л"},
    ]
    assert body["chelator_changes"] == [{"date": "2026-02-07", "from": "Десферал", "to": "Эксиджад"}]
    summary = body["summary"]
    assert summary["count"] == 3 and summary["total_volume"] == 960
    assert summary["mean_interval_days"] == pytest.approx(77 / 3)
    assert summary["mean_volume_per_kg"] == pytest.approx((10 + 10 + 10.31) / 3)
    assert summary["mean_hb_before"] == pytest.approx(86) and summary["mean_hb_after"] == pytest.approx(123)

    first_ever = (await report(parent, **{"from": "2025-01-01", "to": "2025-12-31"})).json()
    assert [r["interval_days"] for r in first_ever["transfusions"]] == [None]
    assert first_ever["summary"]["mean_interval_days"] is None and first_ever["chelator_changes"] == []


async def test_report_refuses_bad_periods_and_formats(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    for params in (
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"from": "2026-01-01"},
        {"to": "2026-01-01"},
        {"from": "01.01.2026", "to": "2026-02-01"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "2026-01-01", "to": "2026-02-01", "format": "docx"},
    ):
        response = await client.get("/api/v1/report", params=params, headers=parent.headers)
        assert response.status_code == 422, params
    assert (
        await client.get("/api/v1/report", params={"from": "2026-01-01", "to": "2026-01-02"})
    ).status_code == 401


async def test_csv_and_xlsx_carry_the_table(hemoday: HemoDay) -> None:
    parent = await diary(hemoday)
    response = await report(parent, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    assert rows[1] == [
        "2026-01-10",
        "Эритроцитная масса",
        "310",
        "31",
        "10",
        "84",
        "121",
        "37",
        "21",
        "Десферал",
    ]
    assert len(rows) == 4 and rows[3][5] == ""

    response = await report(parent, format="xlsx")
    assert (
        response.headers["content-type"]
        == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0] == HEADER and len(table) == 4
    assert table[2][:3] == ["2026-02-07", "Эритроцитная масса", 320] and table[2][8] == 28


async def test_pdf_has_the_rows_as_text_in_cyrillic(hemoday: HemoDay) -> None:
    parent = await diary(hemoday)
    response = await report(parent, format="pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Аня Иванова" in text
    for needle in ("2026-01-10", "2026-02-07", "2026-03-07", "Десферал", "Эксиджад", "1520.5", "hb_before"):
        assert needle in text, needle
    assert "2025-12-20" not in text.split("2026-01-01")[-1].split("Ферритин")[0]
