"""What the OpenAPI document declares for warehouse inputs is what the server takes (issue 12.10):
decimal strings by their pattern, strict yes/no, ISO bounds, the Idempotency-Key's characters."""

from __future__ import annotations

import re
from typing import Any

from tests.apps.warehouse.conftest import Warehouse


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec["components"]["schemas"][name]


async def test_decimal_strings_follow_the_declared_pattern(wh: Warehouse) -> None:
    spec = (await wh.client.get("/openapi.json")).json()
    quantity = _schema(spec, "TransferCreate")["properties"]["quantity"]["anyOf"]
    pattern = next(branch["pattern"] for branch in quantity if branch["type"] == "string")
    assert next(b for b in quantity if b["type"] == "number")["minimum"] == 0.001

    product = await wh.product(unit="kg", min_quantity="0.5")
    assert product["min_quantity"] == 0.5
    for text in ("", " 1", "1e3", "0.000", "1.0000", "-2"):
        assert not re.fullmatch(pattern, text), text
        await wh.move(product["id"], "incoming", text, expect=422)
        if text != "0.000":  # a valid initial quantity: not negative
            await wh.product(expect=422, current_quantity=text)
    moved = await wh.move(product["id"], "incoming", "2.125")
    assert moved["quantity"] == 2.125 and await wh.quantity(product["id"]) == 2.125


async def test_yes_no_and_unit_are_strict(wh: Warehouse) -> None:
    refused = await wh.client.post("/locations", json={"name": "Yard", "is_default": "yes"}, headers=wh.admin)
    assert refused.status_code == 422
    product = await wh.product()
    patched = await wh.client.patch(f"/products/{product['id']}", json={"unit": None}, headers=wh.admin)
    assert patched.status_code == 422
    spec = (await wh.client.get("/openapi.json")).json()
    assert _schema(spec, "ProductUpdate")["properties"]["unit"]["type"] == "string"
    blank = await wh.client.post("/categories", json={"name": "   "}, headers=wh.admin)
    assert blank.status_code == 422


async def test_movement_bounds_and_idempotency_key_are_declared(wh: Warehouse) -> None:
    spec = (await wh.client.get("/openapi.json")).json()
    params = {p["name"]: p for p in spec["paths"]["/stock-movements"]["get"]["parameters"]}
    bound = params["from"]["schema"]["anyOf"][0]["pattern"]
    for good in ("2026-03-29", "2026-03-29T10:00", "2026-03-29T10:00:00.5+05:00", "2026-03-29 10:00:00Z"):
        assert re.fullmatch(bound, good), good
        response = await wh.client.get("/stock-movements", params={"from": good}, headers=wh.operator)
        assert response.status_code == 200, (good, response.text)
    for bad in ("0", "20260329", "yesterday"):
        response = await wh.client.get("/stock-movements", params={"to": bad}, headers=wh.operator)
        assert response.status_code == 422, bad
    header = {p["name"]: p for p in spec["paths"]["/inventory-checks"]["post"]["parameters"]}
    key_pattern = header["Idempotency-Key"]["schema"]["anyOf"][0]["pattern"]
    assert re.fullmatch(key_pattern, "scan-0001") and not re.fullmatch(key_pattern, "a b")
    product = await wh.product()
    await wh.move(product["id"], "incoming", 1, key="a b", expect=422)
