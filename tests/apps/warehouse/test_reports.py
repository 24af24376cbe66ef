"""W7 and the stock report: low stock, overstock, the admins' mail, CSV and XLSX."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import FastAPI
from openpyxl import load_workbook
from tests.apps.warehouse.conftest import Warehouse

from basis.apps.warehouse import stock


async def _items(wh: Warehouse, path: str) -> list[dict[str, Any]]:
    response = await wh.client.get(path, headers=wh.operator)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_low_stock_and_overstock(wh: Warehouse) -> None:
    never = await wh.product(min_quantity=1)
    low = await wh.product(min_quantity=10)
    at_min = await wh.product(min_quantity=5, max_quantity=5)
    over = await wh.product(max_quantity=3)
    unlimited = await wh.product()
    archived = await wh.product(min_quantity=100)
    await wh.move(low["id"], "incoming", 9)
    await wh.move(at_min["id"], "incoming", 5)
    await wh.move(over["id"], "incoming", 4)
    await wh.move(unlimited["id"], "incoming", 1000)
    await wh.client.patch(f"/products/{archived['id']}", json={"is_archived": True}, headers=wh.admin)

    low_ids = {p["id"]: p["current_quantity"] for p in await _items(wh, "/reports/low-stock")}
    over_ids = {p["id"]: p["current_quantity"] for p in await _items(wh, "/reports/overstock")}
    listed = await wh.client.get("/products", params={"low_stock": True}, headers=wh.operator)

    assert low_ids == {never["id"]: 0, low["id"]: 9}
    assert over_ids == {over["id"]: 4}
    assert {p["id"] for p in listed.json()["items"]} == set(low_ids)


async def test_one_mail_per_crossing_below_the_minimum(wh: Warehouse, app: FastAPI, make_user: Any) -> None:
    await make_user(role="admin", email="boss@example.com")
    infra = app.state.infra
    product = await wh.product(name="Gloves", sku="GL-1", min_quantity=10)

    async def mails() -> list[dict[str, Any]]:
        await infra.jobs.drain()
        return [m for m in infra.mailer.read() if "GL-1" in m["subject"]]

    await wh.move(product["id"], "incoming", 12)
    await wh.move(product["id"], "outgoing", 2)
    assert await mails() == []
    crossing = await wh.move(product["id"], "outgoing", 1)
    await wh.move(product["id"], "outgoing", 1)
    await wh.move(product["id"], "incoming", 1)
    (mail,) = await mails()
    assert "boss@example.com" in mail["to"]
    assert "Gloves" in mail["text"] and f"#{crossing['id']}" in mail["text"]

    await wh.move(product["id"], "incoming", 5)
    await wh.move(product["id"], "adjustment", -6, reason="damaged")
    assert len(await mails()) == 2


async def test_the_stock_report_in_three_formats(wh: Warehouse) -> None:
    shelf = await wh.location("Shelf;B")
    bolts = await wh.product(name="Bolt M8", sku="B-8")
    cable = await wh.product(name="=cable", sku="C-1", unit="m")
    await wh.move(bolts["id"], "incoming", 100)
    await wh.move(bolts["id"], "incoming", 5, location_id=shelf["id"])
    await wh.move(cable["id"], "incoming", "12.5", location_id=shelf["id"])

    rows = await _items(wh, "/reports/stock")
    assert [(r["sku"], r["location"], r["quantity"], r["unit"]) for r in rows] == [
        ("B-8", "Main warehouse", 100, "pcs"),
        ("B-8", "Shelf;B", 5, "pcs"),
        ("C-1", "Shelf;B", 12.5, "m"),
    ]
    assert set(rows[0]) == {"product_id", "sku", "name", "location_id", "location", "quantity", "unit"}

    as_csv = await wh.client.get("/reports/stock", params={"format": "csv"}, headers=wh.operator)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in as_csv.headers["content-disposition"]
    parsed = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig")), delimiter=";"))
    assert parsed[0] == ["product_id", "sku", "name", "location_id", "location", "quantity", "unit"]
    assert [(r[1], r[4], r[5]) for r in parsed[1:]] == [
        ("B-8", "Main warehouse", "100"),
        ("B-8", "Shelf;B", "5"),
        ("C-1", "Shelf;B", "12,5"),
    ]
    assert parsed[3][2] == "'=cable"

    as_xlsx = await wh.client.get("/reports/stock", params={"format": "xlsx"}, headers=wh.operator)
    assert as_xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == parsed[0]
    assert [(r[1], r[4], r[5]) for r in cells[1:]] == [
        ("B-8", "Main warehouse", 100),
        ("B-8", "Shelf;B", 5),
        ("C-1", "Shelf;B", 12.5),
    ]
    by_location = await _items(wh, f"/reports/stock?location_id={shelf['id']}")
    assert len(by_location) == 2
    assert (await wh.client.get("/reports/stock?format=pdf", headers=wh.operator)).status_code == 422


async def test_the_json_report_keeps_awkward_text_and_numbers_exact(wh: Warehouse) -> None:
    # PostgreSQL and MariaDB write the report's JSON themselves: it must read back as the same
    # values the API gives elsewhere, whatever the text holds and however many decimals.
    shelf = await wh.location('Полка "Б" \\ 2')
    odd = await wh.product(name='Кабель "ВВГ" 3\\4 \t\u00e9\U0001f4e6 </script>', sku="Z-\u0436'1", unit="m")
    cases = {"0.001": 0.001, "10": 10, "2.5": 2.5, "123456789.125": 123456789.125, "100": 100}
    products = [odd]
    for i, text in enumerate(cases):
        products.append(await wh.product(name=f"N {text}", sku=f"Z-N{i}", unit="kg"))
    await wh.move(odd["id"], "incoming", "7.250", location_id=shelf["id"])
    for product, text in zip(products[1:], cases, strict=True):
        await wh.move(product["id"], "incoming", text, location_id=shelf["id"])
    await wh.move(products[1]["id"], "outgoing", "0.001", location_id=shelf["id"])  # a level of zero

    rows = {r["product_id"]: r for r in await _items(wh, f"/reports/stock?location_id={shelf['id']}")}
    assert rows[odd["id"]] == {
        "product_id": odd["id"],
        "sku": "Z-\u0436'1",
        "name": 'Кабель "ВВГ" 3\\4 \t\u00e9\U0001f4e6 </script>',
        "location_id": shelf["id"],
        "location": 'Полка "Б" \\ 2',
        "quantity": 7.25,
        "unit": "m",
    }
    expected = [0, *list(cases.values())[1:]]
    got = [rows[p["id"]]["quantity"] for p in products[1:]]
    assert got == expected and [type(v) for v in got] == [type(v) for v in expected]


async def test_the_report_orders_each_products_levels_by_location_name_then_id(
    wh: Warehouse, app: FastAPI
) -> None:
    # MariaDB reads the report in SKU order alone and orders each product's levels itself, in
    # chunks: a product whose levels straddle two chunks must come out the same.
    zeta = await wh.location("Zeta")
    alpha = await wh.location("Alpha")
    aisle_a, aisle_b = await wh.location("Aisle A"), await wh.location("Aisle B")
    bin_b = await wh.location("Bin", parent_id=aisle_b["id"])  # the same name: the lower id first
    bin_a = await wh.location("Bin", parent_id=aisle_a["id"])
    places = {"Zeta": zeta, "Alpha": alpha, "Bin b": bin_b, "Bin a": bin_a}
    stocked = {
        "R-2": ["Zeta", "Bin a", "Alpha", "Bin b"],
        "R-1": ["Zeta", "Alpha"],
        "R-3": ["Bin b"],
        "R-4": ["Bin a", "Zeta", "Bin b"],
    }
    ids = {}
    for sku, where in stocked.items():
        ids[sku] = (await wh.product(sku=sku, name=f"Item {sku}"))["id"]
        for name in where:
            await wh.move(ids[sku], "incoming", 1, location_id=places[name]["id"])
    in_order = ["Alpha", "Bin b", "Bin a", "Zeta"]  # by name, then id (bin_b was made first)
    expected = [
        (ids[sku], places[name]["id"]) for sku in sorted(stocked) for name in in_order if name in stocked[sku]
    ]

    rows = await _items(wh, "/reports/stock")
    assert [(r["product_id"], r["location_id"]) for r in rows] == expected
    as_csv = await wh.client.get("/reports/stock", params={"format": "csv"}, headers=wh.operator)
    parsed = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig")), delimiter=";"))[1:]
    assert [(int(r[0]), int(r[3])) for r in parsed] == expected

    for chunk in (1, 2, 3, 4):
        async with app.state.db.sessionmaker() as session:
            chunks = stock.stream_stock_rows(session, chunk=chunk)
            got = [(row[0], row[3]) async for rows in chunks for row in rows]
        assert got == expected, chunk
        if app.state.db.backend != "sqlite":
            async with app.state.db.sessionmaker() as session:
                objects = stock.stream_stock_json(session, chunk=chunk)
                texts = [text async for texts in objects for text in texts]
            assert [(o["product_id"], o["location_id"]) for o in map(json.loads, texts)] == expected, chunk
