"""Products, scans, categories and locations as the admin and the floor use them."""

from __future__ import annotations

from tests.apps.warehouse.conftest import Warehouse


async def test_create_and_read_a_product(wh: Warehouse) -> None:
    category = (await wh.client.post("/categories", json={"name": "Tools"}, headers=wh.admin)).json()
    product = await wh.product(
        name="Hammer",
        sku="HM-1",
        barcode="5901234123457",
        category_id=category["id"],
        unit="pcs",
        min_quantity=2,
        max_quantity="40",
        description="claw hammer",
    )
    assert product["qr_code"].startswith("product:") and len(product["qr_code"]) == len("product:") + 36
    assert (product["current_quantity"], product["min_quantity"], product["max_quantity"]) == (0, 2, 40)
    assert product["is_archived"] is False and product["category_id"] == category["id"]
    read = await wh.client.get(f"/products/{product['id']}", headers=wh.operator)
    assert read.json() == product
    assert (await wh.client.get("/products/999999", headers=wh.operator)).status_code == 404


async def test_duplicates_are_409(wh: Warehouse) -> None:
    first = await wh.product(sku="DUP-1", barcode="111", qr_code="shelf-label-1")
    assert (await wh.product(sku="DUP-1", expect=409))["code"] == "duplicate_sku"
    assert (await wh.product(barcode="111", expect=409))["code"] == "duplicate_barcode"
    assert (await wh.product(qr_code="shelf-label-1", expect=409))["code"] == "duplicate_qr_code"
    other = await wh.product()
    clash = await wh.client.patch(f"/products/{other['id']}", json={"sku": "DUP-1"}, headers=wh.admin)
    assert clash.status_code == 409 and clash.json()["code"] == "duplicate_sku"
    same = await wh.client.patch(f"/products/{first['id']}", json={"sku": "DUP-1"}, headers=wh.admin)
    assert same.status_code == 200


async def test_invalid_products_are_422(wh: Warehouse) -> None:
    for body in (
        {"name": "", "sku": "A-1"},
        {"name": "x", "sku": "has space"},
        {"name": "x", "sku": "A-2", "unit": "barrel"},
        {"name": "x", "sku": "A-3", "min_quantity": 5, "max_quantity": 2},
        {"name": "x", "sku": "A-4", "min_quantity": -1},
        {"name": "x", "sku": "A-5", "unpriced": True},
    ):
        response = await wh.client.post("/products", json=body, headers=wh.admin)
        assert response.status_code == 422, body
    fractional = await wh.product(min_quantity=1.5, expect=422)
    assert fractional["code"] == "invalid_quantity"


async def test_the_original_initial_quantity_becomes_a_movement(wh: Warehouse) -> None:
    product = await wh.product(current_quantity=12)
    assert product["current_quantity"] == 12
    (movement,) = await wh.movements(product["id"])
    assert (movement["movement_type"], movement["quantity"], movement["balance_after"]) == (
        "incoming",
        12,
        12,
    )
    # The original's client posted to "/products/" with a trailing slash.
    slash = await wh.client.post("/products/", json={"name": "Old client", "sku": "OLD-1"}, headers=wh.admin)
    assert slash.status_code == 201
    assert (await wh.client.get("/products/", headers=wh.operator)).status_code == 200


async def test_scanning_finds_products_archived_ones_too(wh: Warehouse) -> None:
    product = await wh.product(barcode="4006381333931")
    await wh.move(product["id"], "incoming", 1)
    by_qr = await wh.client.get(f"/products/qr/{product['qr_code']}", headers=wh.operator)
    by_barcode = await wh.client.get("/products/barcode/4006381333931", headers=wh.operator)
    assert by_qr.json()["id"] == by_barcode.json()["id"] == product["id"]
    assert by_qr.json()["current_quantity"] == 1

    await wh.client.patch(f"/products/{product['id']}", json={"is_archived": True}, headers=wh.admin)
    archived = await wh.client.get(f"/products/qr/{product['qr_code']}", headers=wh.operator)
    assert archived.status_code == 200 and archived.json()["is_archived"] is True
    missing = await wh.client.get("/products/qr/product:unknown", headers=wh.operator)
    assert missing.status_code == 404 and missing.json()["code"] == "product_not_found"
    assert (await wh.client.get("/products/barcode/000", headers=wh.operator)).status_code == 404


async def test_lists_hide_archived_and_search(wh: Warehouse) -> None:
    hammer = await wh.product(name="Claw hammer", sku="HAM-1")
    saw = await wh.product(name="Saw", sku="SAW-1", barcode="777000")
    old = await wh.product(name="Old hammer", sku="HAM-0")
    await wh.move(old["id"], "incoming", 1)
    assert (await wh.client.delete(f"/products/{old['id']}", headers=wh.admin)).status_code == 200

    async def names(**params: object) -> list[str]:
        response = await wh.client.get("/products", params=params, headers=wh.operator)
        assert response.status_code == 200, response.text
        return [p["name"] for p in response.json()["items"]]

    assert await names() == ["Claw hammer", "Saw"]
    assert await names(include_archived=True) == ["Claw hammer", "Saw", "Old hammer"]
    assert await names(q="hammer") == ["Claw hammer"]
    assert await names(q="ham-") == ["Claw hammer"]
    assert await names(q="7770") == ["Saw"]
    assert await names(q="%") == []
    page = (await wh.client.get("/products", params={"limit": 1, "offset": 1}, headers=wh.operator)).json()
    assert (page["total"], page["limit"], page["offset"], [p["id"] for p in page["items"]]) == (
        2,
        1,
        1,
        [saw["id"]],
    )
    assert hammer["id"] != saw["id"]


async def test_delete_without_history_removes_the_product(wh: Warehouse) -> None:
    product = await wh.product()
    assert (await wh.client.delete(f"/products/{product['id']}", headers=wh.operator)).status_code == 403
    assert (await wh.client.delete(f"/products/{product['id']}", headers=wh.admin)).status_code == 204
    assert (await wh.client.get(f"/products/{product['id']}", headers=wh.operator)).status_code == 404


async def test_unit_change_needs_whole_stock(wh: Warehouse) -> None:
    product = await wh.product(unit="kg")
    await wh.move(product["id"], "incoming", "1.5")
    refused = await wh.client.patch(f"/products/{product['id']}", json={"unit": "pcs"}, headers=wh.admin)
    assert refused.status_code == 409 and refused.json()["code"] == "unit_conflict"
    await wh.move(product["id"], "incoming", "0.5")
    changed = await wh.client.patch(f"/products/{product['id']}", json={"unit": "pcs"}, headers=wh.admin)
    assert changed.status_code == 200 and changed.json()["unit"] == "pcs"


async def test_only_admins_edit_the_catalogue(wh: Warehouse) -> None:
    body = {"name": "x", "sku": "OP-1"}
    assert (await wh.client.post("/products", json=body, headers=wh.operator)).status_code == 403
    assert (await wh.client.post("/categories", json={"name": "x"}, headers=wh.operator)).status_code == 403
    assert (await wh.client.post("/locations", json={"name": "x"}, headers=wh.operator)).status_code == 403
    product = await wh.product()
    patch = await wh.client.patch(f"/products/{product['id']}", json={"name": "y"}, headers=wh.operator)
    assert patch.status_code == 403


async def test_categories(wh: Warehouse) -> None:
    async def create(expect: int = 201, **body: object) -> dict[str, object]:
        response = await wh.client.post("/categories", json=body, headers=wh.admin)
        assert response.status_code == expect, response.text
        return response.json()

    tools = await create(name="Tools")
    hand = await create(name="Hand tools", parent_id=tools["id"])
    assert (await create(name="tools", expect=409))["code"] == "duplicate_category"
    await create(name="Tools", parent_id=hand["id"])
    assert (await create(name="x", parent_id=999_999, expect=404))["code"] == "category_not_found"
    cycle = await wh.client.patch(
        f"/categories/{tools['id']}", json={"parent_id": hand["id"]}, headers=wh.admin
    )
    assert cycle.status_code == 422 and cycle.json()["code"] == "category_cycle"

    listed = (
        await wh.client.get("/categories", params={"parent_id": tools["id"]}, headers=wh.operator)
    ).json()
    assert [c["name"] for c in listed["items"]] == ["Hand tools"]
    product = await wh.product(category_id=hand["id"])
    in_use = await wh.client.delete(f"/categories/{hand['id']}", headers=wh.admin)
    assert in_use.status_code == 409 and in_use.json()["code"] == "category_in_use"
    parent = await wh.client.delete(f"/categories/{tools['id']}", headers=wh.admin)
    assert parent.status_code == 409 and parent.json()["code"] == "category_has_children"
    await wh.client.patch(f"/products/{product['id']}", json={"category_id": None}, headers=wh.admin)
    renamed = await wh.client.patch(f"/categories/{hand['id']}", json={"name": "Hand"}, headers=wh.admin)
    assert renamed.json()["name"] == "Hand"
    hammer_category = await create(name="Hammers", parent_id=hand["id"])
    assert (
        await wh.client.delete(f"/categories/{hammer_category['id']}", headers=wh.admin)
    ).status_code == 204
    assert (
        await wh.client.delete(f"/categories/{hammer_category['id']}", headers=wh.admin)
    ).status_code == 404


async def test_locations_and_the_default(wh: Warehouse) -> None:
    listed = (await wh.client.get("/locations", headers=wh.operator)).json()
    (default,) = [loc for loc in listed["items"] if loc["is_default"]]
    hall = await wh.location("Hall")
    shelf = await wh.location("Shelf 1", parent_id=hall["id"])
    assert shelf["parent_id"] == hall["id"] and shelf["is_default"] is False
    duplicate = await wh.client.post("/locations", json={"name": "hall"}, headers=wh.admin)
    assert duplicate.status_code == 409

    moved = await wh.client.patch(f"/locations/{hall['id']}", json={"is_default": True}, headers=wh.admin)
    assert moved.status_code == 200 and moved.json()["is_default"] is True
    defaults = [
        loc
        for loc in (await wh.client.get("/locations", headers=wh.operator)).json()["items"]
        if loc["is_default"]
    ]
    assert [loc["id"] for loc in defaults] == [hall["id"]]
    product = await wh.product()
    assert (await wh.move(product["id"], "incoming", 1))["location_id"] == hall["id"]
    assert default["id"] != hall["id"]
    inside = await wh.client.patch(
        f"/locations/{hall['id']}", json={"parent_id": shelf["id"]}, headers=wh.admin
    )
    assert inside.status_code == 422
