"""W5: an Idempotency-Key makes a scanner's retry safe, also while the first call still runs."""

from __future__ import annotations

import asyncio

from tests.apps.warehouse.conftest import Warehouse


async def test_a_retry_gets_the_original_answer_and_stores_nothing_new(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 10)
    body = {"product_id": product["id"], "movement_type": "outgoing", "quantity": 3}
    headers = {**wh.operator, "Idempotency-Key": "scan-0001"}

    first = await wh.client.post("/stock-movements", json=body, headers=headers)
    second = await wh.client.post("/stock-movements", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert first.json()["idempotency_key"] == "scan-0001"
    assert second.headers.get("idempotent-replayed") == "true" and "idempotent-replayed" not in first.headers
    assert await wh.quantity(product["id"]) == 7
    assert len(await wh.movements(product["id"])) == 2


async def test_the_same_key_with_another_payload_is_a_conflict(wh: Warehouse) -> None:
    product, other = await wh.product(), await wh.product()
    shelf = await wh.location()
    await wh.move(product["id"], "incoming", 5, key="k-1")
    for changed in (
        {"quantity": 6},
        {"product_id": other["id"]},
        {"movement_type": "outgoing"},
        {"location_id": shelf["id"]},
    ):
        body = {"product_id": product["id"], "movement_type": "incoming", "quantity": 5, **changed}
        response = await wh.client.post(
            "/stock-movements", json=body, headers={**wh.operator, "Idempotency-Key": "k-1"}
        )
        assert response.status_code == 409 and response.json()["code"] == "idempotency_conflict", changed
    # "5", 5 and 5.0 are one quantity.
    await wh.move(product["id"], "incoming", "5.000", key="k-1")
    assert await wh.quantity(product["id"]) == 5


async def test_keys_are_scoped_to_the_user_and_the_endpoint(wh: Warehouse) -> None:
    product = await wh.product()
    shelf, other = await wh.location(), await wh.location()
    await wh.move(product["id"], "incoming", 5, key="shared", location_id=shelf["id"])
    await wh.move(product["id"], "incoming", 5, key="shared", location_id=shelf["id"], headers=wh.admin)
    transfer = await wh.client.post(
        "/stock-movements/transfer",
        json={
            "product_id": product["id"],
            "from_location_id": shelf["id"],
            "to_location_id": other["id"],
            "quantity": 2,
        },
        headers={**wh.operator, "Idempotency-Key": "shared"},
    )
    assert transfer.status_code == 201
    assert await wh.quantity(product["id"]) == 10
    assert len(await wh.movements(product["id"])) == 4


async def test_a_refusal_is_replayed_too(wh: Warehouse) -> None:
    product = await wh.product()
    refused = await wh.move(product["id"], "outgoing", 1, key="k-refused", expect=409)
    await wh.move(product["id"], "incoming", 10)
    # The retry answers what the first call answered, even though stock arrived meanwhile.
    replay = await wh.move(product["id"], "outgoing", 1, key="k-refused", expect=409)
    assert replay == refused
    assert await wh.quantity(product["id"]) == 10


async def test_concurrent_retries_store_one_movement(wh: Warehouse) -> None:
    product = await wh.product()
    await wh.move(product["id"], "incoming", 100)
    headers = {**wh.operator, "Idempotency-Key": "burst-1"}
    body = {"product_id": product["id"], "movement_type": "outgoing", "quantity": 1}

    responses = await asyncio.gather(
        *(wh.client.post("/stock-movements", json=body, headers=headers) for _ in range(20))
    )

    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert await wh.quantity(product["id"]) == 99


async def test_bad_keys_are_refused(wh: Warehouse) -> None:
    product = await wh.product()
    body = {"product_id": product["id"], "movement_type": "incoming", "quantity": 1}
    for key in ("x" * 201, "with space", "ключ"):
        response = await wh.client.post(
            "/stock-movements", json=body, headers={**wh.operator, "Idempotency-Key": key.encode()}
        )
        assert response.status_code == 422, key
    assert await wh.movements(product["id"]) == []


async def test_product_creation_and_checks_accept_keys(wh: Warehouse) -> None:
    headers = {**wh.admin, "Idempotency-Key": "new-product-1"}
    body = {"name": "Drill", "sku": "DR-1"}
    first = await wh.client.post("/products", json=body, headers=headers)
    second = await wh.client.post("/products", json=body, headers=headers)
    assert first.status_code == second.status_code == 201 and first.json() == second.json()

    check_headers = {**wh.operator, "Idempotency-Key": "new-check-1"}
    one = await wh.client.post("/inventory-checks", json={}, headers=check_headers)
    two = await wh.client.post("/inventory-checks", json={}, headers=check_headers)
    assert one.status_code == two.status_code == 201 and one.json()["id"] == two.json()["id"]
    listed = (await wh.client.get("/inventory-checks", headers=wh.operator)).json()
    assert listed["total"] == 1
