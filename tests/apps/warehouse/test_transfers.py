"""W4: a transfer moves stock between two locations, both halves or neither."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from tests.apps.warehouse.conftest import Warehouse

from basis.apps.warehouse import stock as service


async def _levels(wh: Warehouse, product_id: int) -> dict[int, float]:
    return {level["location_id"]: level["quantity"] for level in (await wh.stock(product_id))["levels"]}


async def test_a_transfer_writes_out_and_in_and_keeps_the_total(wh: Warehouse, session: AsyncSession) -> None:
    product = await wh.product(unit="kg")
    source, target = await wh.location(), await wh.location()
    await wh.move(product["id"], "incoming", "10.5", location_id=source["id"])

    response = await wh.client.post(
        "/stock-movements/transfer",
        json={
            "product_id": product["id"],
            "from_location_id": source["id"],
            "to_location_id": target["id"],
            "quantity": "4.25",
            "reference": "MOVE-7",
        },
        headers=wh.operator,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    out, into = body["movements"]
    assert (out["movement_type"], out["location_id"], out["quantity"], out["balance_after"]) == (
        "transfer_out",
        source["id"],
        4.25,
        6.25,
    )
    assert (into["movement_type"], into["location_id"], into["quantity"], into["balance_after"]) == (
        "transfer_in",
        target["id"],
        4.25,
        4.25,
    )
    assert out["transfer_id"] == into["transfer_id"] == body["transfer_id"]
    assert await _levels(wh, product["id"]) == {source["id"]: 6.25, target["id"]: 4.25}
    assert await wh.quantity(product["id"]) == 10.5
    assert await service.verify(session=session) == []


async def test_a_transfer_beyond_the_source_stock_moves_nothing(wh: Warehouse) -> None:
    product = await wh.product()
    source, target = await wh.location(), await wh.location()
    await wh.move(product["id"], "incoming", 3, location_id=source["id"])
    await wh.move(product["id"], "incoming", 50, location_id=target["id"])

    response = await wh.client.post(
        "/stock-movements/transfer",
        json={
            "product_id": product["id"],
            "from_location_id": source["id"],
            "to_location_id": target["id"],
            "quantity": 4,
        },
        headers=wh.operator,
    )

    assert response.status_code == 409 and response.json()["code"] == "insufficient_stock"
    assert await _levels(wh, product["id"]) == {source["id"]: 3, target["id"]: 50}
    assert len(await wh.movements(product["id"])) == 2


async def test_transfer_input_is_checked(wh: Warehouse) -> None:
    product = await wh.product()
    shelf = await wh.location()
    await wh.move(product["id"], "incoming", 3, location_id=shelf["id"])

    async def transfer(**body: object) -> tuple[int, dict[str, object]]:
        payload = {
            "product_id": product["id"],
            "from_location_id": shelf["id"],
            "to_location_id": shelf["id"],
            "quantity": 1,
            **body,
        }
        response = await wh.client.post("/stock-movements/transfer", json=payload, headers=wh.operator)
        return response.status_code, response.json()

    assert (await transfer())[0] == 422
    assert (await transfer(to_location_id=999_999))[1]["code"] == "location_not_found"
    assert (await transfer(to_location_id=None))[0] == 422
    other = await wh.location()
    assert (await transfer(to_location_id=other["id"], quantity=0))[0] == 422
    assert (await transfer(to_location_id=other["id"], quantity=0.5))[1]["code"] == "invalid_quantity"
    assert len(await wh.movements(product["id"])) == 1
