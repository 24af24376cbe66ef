"""W6: inventory checks count, then confirm into adjustments exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.apps.warehouse.conftest import Warehouse

from basis.apps.warehouse import stock as service


async def _open(wh: Warehouse, **body: Any) -> dict[str, Any]:
    response = await wh.client.post("/inventory-checks", json=body, headers=wh.operator)
    assert response.status_code == 201, response.text
    return response.json()


async def _lines(
    wh: Warehouse, check_id: int, lines: list[dict[str, Any]], expect: int = 200
) -> dict[str, Any]:
    response = await wh.client.put(
        f"/inventory-checks/{check_id}/lines", json={"lines": lines}, headers=wh.operator
    )
    assert response.status_code == expect, response.text
    return response.json()


async def _post(wh: Warehouse, check_id: int, action: str, headers: dict[str, str] | None = None) -> Any:
    return await wh.client.post(f"/inventory-checks/{check_id}/{action}", headers=headers or wh.operator)


async def test_confirm_turns_differences_into_adjustments(wh: Warehouse, session: AsyncSession) -> None:
    short, extra, exact = await wh.product(), await wh.product(), await wh.product()
    never = await wh.product(unit="kg")
    await wh.move(short["id"], "incoming", 10)
    await wh.move(extra["id"], "incoming", 3)
    await wh.move(exact["id"], "incoming", 7)
    check = await _open(wh, note="monthly count")
    assert check["status"] == "open" and check["lines"] == []
    await _lines(wh, check["id"], [{"product_id": short["id"], "actual_quantity": 99}])
    counted = await _lines(
        wh,
        check["id"],
        [
            {"product_id": short["id"], "actual_quantity": 8},
            {"product_id": extra["id"], "actual_quantity": "5"},
            {"product_id": exact["id"], "actual_quantity": 7},
            {"product_id": never["id"], "actual_quantity": 1.5},
        ],
    )
    assert [line["expected_quantity"] for line in counted["lines"]] == [None] * 4
    # Stock moves between counting and confirming: expected is taken at confirmation.
    await wh.move(short["id"], "outgoing", 1)

    response = await _post(wh, check["id"], "confirm")

    assert response.status_code == 200, response.text
    confirmed = response.json()
    assert confirmed["status"] == "confirmed" and confirmed["confirmed_at"] is not None
    lines = {line["product_id"]: line for line in confirmed["lines"]}
    assert (lines[short["id"]]["expected_quantity"], lines[short["id"]]["difference"]) == (9, -1)
    assert (lines[extra["id"]]["expected_quantity"], lines[extra["id"]]["difference"]) == (3, 2)
    assert (lines[exact["id"]]["difference"], lines[exact["id"]]["movement_id"]) == (0, None)
    assert (lines[never["id"]]["expected_quantity"], lines[never["id"]]["difference"]) == (0, 1.5)
    for product, quantity in ((short, 8), (extra, 5), (exact, 7), (never, 1.5)):
        assert await wh.quantity(product["id"]) == quantity
    adjustment = (await wh.movements(short["id"]))[0]
    assert adjustment["movement_type"] == "adjustment" and adjustment["quantity"] == -1
    assert adjustment["check_id"] == check["id"] and f"#{check['id']}" in adjustment["reason"]
    assert adjustment["id"] == lines[short["id"]]["movement_id"]
    assert await service.verify(session=session) == []


async def test_confirming_again_changes_nothing_also_concurrently(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 10)
    check = await _open(wh)
    await _lines(wh, check["id"], [{"product_id": product["id"], "actual_quantity": 4}])

    responses = await asyncio.gather(*(_post(wh, check["id"], "confirm") for _ in range(8)))

    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    again = await _post(wh, check["id"], "confirm")
    assert again.json() == responses[0].json()
    assert await wh.quantity(product["id"]) == 4
    assert len(await wh.movements(product["id"])) == 2


async def test_a_confirmed_check_is_frozen(wh: Warehouse) -> None:
    product = await wh.product()
    check = await _open(wh)
    await _lines(wh, check["id"], [{"product_id": product["id"], "actual_quantity": 2}])
    assert (await _post(wh, check["id"], "confirm")).status_code == 200

    refused = await _lines(wh, check["id"], [{"product_id": product["id"], "actual_quantity": 3}], expect=409)
    cancel = await _post(wh, check["id"], "cancel", wh.admin)

    assert refused["code"] == "check_confirmed"
    assert cancel.status_code == 409 and cancel.json()["code"] == "check_confirmed"
    assert (await wh.client.get(f"/inventory-checks/{check['id']}", headers=wh.operator)).json()[
        "status"
    ] == "confirmed"
    assert await wh.quantity(product["id"]) == 2


async def test_a_cancelled_check_cannot_be_confirmed_and_changed_nothing(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 5)
    check = await _open(wh)
    await _lines(wh, check["id"], [{"product_id": product["id"], "actual_quantity": 1}])

    assert (await _post(wh, check["id"], "cancel")).status_code == 403
    cancelled = await _post(wh, check["id"], "cancel", wh.admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await _post(wh, check["id"], "cancel", wh.admin)).status_code == 200
    confirm = await _post(wh, check["id"], "confirm")

    assert confirm.status_code == 409 and confirm.json()["code"] == "check_cancelled"
    assert (await _lines(wh, check["id"], [], expect=409))["code"] == "check_cancelled"
    assert await wh.quantity(product["id"]) == 5
    assert len(await wh.movements(product["id"])) == 1


async def test_checks_at_a_location_and_line_validation(wh: Warehouse) -> None:
    product, counted = await wh.product(), await wh.product(unit="pcs")
    shelf = await wh.location()
    await wh.move(product["id"], "incoming", 4, location_id=shelf["id"])
    await wh.move(product["id"], "incoming", 6)
    check = await _open(wh, location_id=shelf["id"])
    assert check["location_id"] == shelf["id"]

    assert (await _lines(wh, check["id"], [{"product_id": 999_999, "actual_quantity": 1}], 404))["code"] == (
        "product_not_found"
    )
    assert (await _lines(wh, check["id"], [{"product_id": counted["id"], "actual_quantity": 1.5}], 422))[
        "code"
    ] == ("invalid_quantity")
    await _lines(wh, check["id"], [{"product_id": counted["id"], "actual_quantity": -1}], 422)
    twice = [{"product_id": product["id"], "actual_quantity": 1}] * 2
    await _lines(wh, check["id"], twice, 422)
    await _lines(wh, check["id"], [{"product_id": product["id"], "actual_quantity": 1}])
    assert (await _post(wh, check["id"], "confirm")).status_code == 200

    stock = {lv["location_id"]: lv["quantity"] for lv in (await wh.stock(product["id"]))["levels"]}
    assert stock[shelf["id"]] == 1 and sum(stock.values()) == 7
    assert (
        await wh.client.post("/inventory-checks", json={"location_id": 999_999}, headers=wh.operator)
    ).status_code == 404
    assert (await wh.client.get("/inventory-checks/999999", headers=wh.operator)).status_code == 404
    listed = (
        await wh.client.get("/inventory-checks", params={"status": "confirmed"}, headers=wh.operator)
    ).json()
    assert [(c["id"], c["line_count"]) for c in listed["items"]] == [(check["id"], 1)]
