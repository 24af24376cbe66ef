"""W1-W3 through HTTP: the ledger, its levels, exact quantities and the append-only rule."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from tests.apps.warehouse.conftest import Warehouse

from basis.apps.warehouse import stock as service


async def test_movements_change_the_level_and_record_balance_after(
    wh: Warehouse, session: AsyncSession
) -> None:
    product = await wh.product()
    incoming = await wh.move(product["id"], "incoming", 10, reference="DN-1")
    outgoing = await wh.move(product["id"], "outgoing", 4)
    adjustment = await wh.move(product["id"], "adjustment", -1, reason="broken on the shelf")

    assert [incoming["balance_after"], outgoing["balance_after"], adjustment["balance_after"]] == [10, 6, 5]
    assert incoming["reference"] == "DN-1" and incoming["quantity"] == 10
    assert adjustment["quantity"] == -1 and adjustment["reason"] == "broken on the shelf"
    assert await wh.quantity(product["id"]) == 5
    assert [m["id"] for m in await wh.movements(product["id"])] == [
        adjustment["id"],
        outgoing["id"],
        incoming["id"],
    ]
    assert await service.verify(session=session) == []


async def test_the_author_and_default_location_are_recorded(wh: Warehouse) -> None:
    product = await wh.product()
    me = (await wh.client.get("/auth/me", headers=wh.operator)).json()
    movement = await wh.move(product["id"], "incoming", 3)
    locations = (await wh.client.get("/locations", headers=wh.operator)).json()["items"]
    default = [loc for loc in locations if loc["is_default"]]

    assert len(default) == 1
    assert movement["user_id"] == me["id"]
    assert movement["location_id"] == default[0]["id"]


async def test_an_issue_beyond_the_stock_is_refused_and_stores_nothing(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 5)

    refused = await wh.move(product["id"], "outgoing", 6, expect=409)

    assert refused["code"] == "insufficient_stock"
    assert refused["available"] == 5 and refused["requested"] == 6
    assert await wh.quantity(product["id"]) == 5
    assert len(await wh.movements(product["id"])) == 1
    await wh.move(product["id"], "outgoing", 5)
    assert await wh.quantity(product["id"]) == 0


async def test_a_negative_adjustment_cannot_go_below_zero(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 2)
    refused = await wh.move(product["id"], "adjustment", -3, reason="count", expect=409)
    assert refused["code"] == "insufficient_stock"
    await wh.move(product["id"], "adjustment", -2, reason="count")
    assert await wh.quantity(product["id"]) == 0


QUANTITY_CASES = [
    ("pcs", 2, 2),
    ("pcs", "3", 3),
    ("pcs", 1.5, None),
    ("box", "2.000", 2),
    ("pack", "0.5", None),
    ("kg", 1.25, 1.25),
    ("kg", "0.001", 0.001),
    ("kg", "0.0005", None),
    ("m", 2.1234, None),
    ("l", 0, None),
    ("pcs", -1, None),
    ("pcs", "abc", None),
    ("pcs", "NaN", None),
    ("pcs", "Infinity", None),
    ("pcs", True, None),
    ("pcs", None, None),
    ("pcs", 1e15, None),
]


async def test_quantity_precision_follows_the_unit(wh: Warehouse) -> None:
    products = {unit: await wh.product(unit=unit) for unit in {case[0] for case in QUANTITY_CASES}}
    expected: dict[str, list[object]] = {unit: [] for unit in products}
    for unit, quantity, stored in QUANTITY_CASES:
        body = await wh.move(
            products[unit]["id"], "incoming", quantity, expect=422 if stored is None else 201
        )
        if stored is None:
            assert body["code"] in ("validation_error", "invalid_quantity"), (unit, quantity)
        else:
            assert body["quantity"] == stored and type(body["quantity"]) is type(stored), (unit, quantity)
            expected[unit].insert(0, stored)
    for unit, product in products.items():
        assert [m["quantity"] for m in await wh.movements(product["id"])] == expected[unit]


async def test_measured_quantities_add_up_exactly(wh: Warehouse, session: AsyncSession) -> None:
    product = await wh.product(unit="kg", min_quantity="0.8")
    for amount in ("0.7", 0.1):
        await wh.move(product["id"], "incoming", amount)
    # 0.7 + 0.1 is 0.7999999999999999 in floating point; the ledger must say 0.8, not low stock.
    assert await wh.quantity(product["id"]) == 0.8
    low = (await wh.client.get("/reports/low-stock", headers=wh.operator)).json()["items"]
    assert product["id"] not in [p["id"] for p in low]
    await wh.move(product["id"], "outgoing", "0.8")
    assert await wh.quantity(product["id"]) == 0
    assert await service.verify(session=session) == []


async def test_adjustments_need_a_reason_and_a_sign(wh: Warehouse) -> None:
    product = await wh.product()
    assert (await wh.move(product["id"], "adjustment", 1, expect=422))["code"] == "validation_error"
    await wh.move(product["id"], "adjustment", 1, reason="   ", expect=422)
    await wh.move(product["id"], "adjustment", 0, reason="nothing", expect=422)
    await wh.move(product["id"], "outgoing", -1, expect=422)
    await wh.move(product["id"], "transfer_in", 1, expect=422)
    assert (await wh.move(product["id"], "adjustment", 4, reason="found"))["balance_after"] == 4


async def test_unknown_product_or_location_is_404(wh: Warehouse) -> None:
    product = await wh.product()
    missing_product = await wh.move(999_999, "incoming", 1, expect=404)
    missing_location = await wh.move(product["id"], "incoming", 1, location_id=999_999, expect=404)
    assert missing_product["code"] == "product_not_found"
    assert missing_location["code"] == "location_not_found"


async def test_an_archived_product_takes_no_movements(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 2)
    archived = await wh.client.delete(f"/products/{product['id']}", headers=wh.admin)
    assert archived.status_code == 200 and archived.json()["is_archived"] is True

    refused = await wh.move(product["id"], "outgoing", 1, expect=409)
    assert refused["code"] == "product_archived"


async def test_the_ledger_is_append_only(wh: Warehouse) -> None:
    product = await wh.product()
    movement = await wh.move(product["id"], "incoming", 2)
    url = f"/stock-movements/{movement['id']}"
    for method in ("PUT", "PATCH", "DELETE"):
        response = await wh.client.request(method, url, json={"quantity": 1}, headers=wh.admin)
        assert response.status_code == 405, method
    assert (await wh.client.get(url, headers=wh.operator)).json() == movement
    assert (await wh.client.delete("/stock-movements", headers=wh.admin)).status_code == 405


async def test_movement_list_filters(wh: Warehouse) -> None:
    first, second = await wh.product(), await wh.product()
    await wh.move(first["id"], "incoming", 5)
    await wh.move(first["id"], "outgoing", 1)
    await wh.move(second["id"], "incoming", 7, headers=wh.admin)

    async def ids(**params: object) -> list[int]:
        response = await wh.client.get("/stock-movements", params=params, headers=wh.operator)
        assert response.status_code == 200, response.text
        return [m["quantity"] for m in response.json()["items"]]

    assert await ids() == [7, 1, 5]
    assert await ids(product_id=first["id"]) == [1, 5]
    assert await ids(movement_type="incoming") == [7, 5]
    admin_id = (await wh.client.get("/auth/me", headers=wh.admin)).json()["id"]
    assert await ids(user_id=admin_id) == [7]
    assert await ids(**{"from": "2000-01-01T00:00:00Z"}) == [7, 1, 5]
    assert await ids(to="2000-01-01T00:00:00") == []
    bad = await wh.client.get("/stock-movements", params={"from": "yesterday"}, headers=wh.operator)
    assert bad.status_code == 422
    page = (await wh.client.get("/stock-movements", params={"limit": 2}, headers=wh.operator)).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 0, 2)
    assert (await wh.client.get("/stock-movements?limit=501", headers=wh.operator)).status_code == 422


async def test_stock_per_location_and_total(wh: Warehouse) -> None:
    product = await wh.product(unit="m")
    shelf = await wh.location("Shelf A")
    await wh.move(product["id"], "incoming", "2.5")
    await wh.move(product["id"], "incoming", "1.25", location_id=shelf["id"])
    stock = await wh.stock(product["id"])
    assert stock["total"] == 3.75 and stock["unit"] == "m"
    assert {(level["location"], level["quantity"]) for level in stock["levels"]} >= {("Shelf A", 1.25)}
    assert await wh.quantity(product["id"]) == 3.75


async def test_roles(wh: Warehouse, user_headers: dict[str, str]) -> None:
    product = await wh.product()
    body = {"product_id": product["id"], "movement_type": "incoming", "quantity": 1}
    assert (await wh.client.post("/stock-movements", json=body)).status_code == 401
    assert (await wh.client.post("/stock-movements", json=body, headers=user_headers)).status_code == 403
    assert (await wh.client.get("/products", headers=user_headers)).status_code == 403
    assert (await wh.client.post("/stock-movements", json=body, headers=wh.operator)).status_code == 201
    assert (await wh.client.post("/stock-movements", json=body, headers=wh.admin)).status_code == 201
