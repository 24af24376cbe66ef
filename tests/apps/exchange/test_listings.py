"""Listing items: every validation and limit of the contract, lists and browse."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apps.exchange.conftest import ALMATY, ASTANA, SHYMKENT, Exchange, item, lend


async def test_create_answers_the_originals_shape_with_the_items(ex: Exchange) -> None:
    alice = await ex.member()
    body = await ex.create(
        alice,
        wants={"bicycles": [lend(7000, 7, "Велосипед на неделю")]},
        offers={"furniture_appliances": [item("Диван", 50_000, description="Почти новый")]},
        locations=[ASTANA, ALMATY],
    )
    assert body["status"] == "success" and body["user_id"] == alice.id and body["items_created"] == 2
    assert body["locations"] == [ALMATY, ASTANA]
    assert body["wants"]["bicycles"][0]["item_name"] == "Велосипед на неделю"
    assert isinstance(body["listing_id"], int) and body["matches_found"] == 0
    want = next(i for i in body["items"] if i["item_type"] == "want")
    assert (
        want["exchange_type"] == "temporary" and want["daily_rate"] == 1000.0 and want["duration_days"] == 7
    )
    offer = next(i for i in body["items"] if i["item_type"] == "offer")
    assert (
        offer["daily_rate"] is None
        and offer["archived_at"] is None
        and offer["category"] == "furniture_appliances"
    )
    assert set(offer) == {
        "id", "user_id", "item_type", "category", "exchange_type", "item_name", "value_tenge",
        "duration_days", "daily_rate", "description", "created_at", "archived_at",
    }  # fmt: skip
    r = await ex.client.get(f"/api/users/{alice.id}")
    assert r.status_code == 200 and r.json()["locations"] == [ALMATY, ASTANA]


BAD_ITEMS: list[tuple[str, dict[str, Any]]] = [
    ("value as a string", item(value="100")),  # type: ignore[arg-type]
    ("value as a fraction", item(value=100.5)),  # type: ignore[arg-type]
    ("value zero", item(value=0)),
    ("value too large", item(value=10_000_001)),
    ("blank name", item(" \t ")),
    ("long name", item("x" * 101)),
    ("long description", item(description="x" * 501)),
    ("temporary without days", item(exchange_type="temporary")),
    ("permanent with days", item(duration_days=3)),
    ("days zero", lend(100, 0)),
    ("days too many", lend(100, 366)),
    ("days as a string", lend(100, "3")),  # type: ignore[arg-type]
    ("unknown exchange type", item(exchange_type="forever")),
]


@pytest.mark.parametrize(("case", "bad"), BAD_ITEMS, ids=[c for c, _ in BAD_ITEMS])
async def test_every_bad_item_is_422_and_nothing_is_stored(
    ex: Exchange, case: str, bad: dict[str, Any]
) -> None:
    alice = await ex.member(ALMATY)
    category = (
        "bicycles"
        if "duration_days" in bad and bad.get("exchange_type") == "temporary"
        else "photo_equipment"
    )
    r = await ex.client.post(
        "/api/listings/create-by-categories",
        json={"offers": {category: [item(), bad]}, "wants": {"money_crypto": [item()]}},
        headers=alice.headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"]
    assert (await ex.client.get("/api/listings/my", headers=alice.headers)).json()["total"] == 0


async def test_unknown_category_empty_batch_and_someone_elses_id(ex: Exchange) -> None:
    alice, bob = await ex.member(), await ex.member()
    r = await ex.create(alice, offers={"spaceships": [item()]}, expect=422)
    assert r["code"] == "unknown_category"
    # a temporary-only slug used for a permanent item is unknown too
    await ex.create(alice, offers={"tutoring": [item()]}, expect=422)
    assert (await ex.create(alice, expect=422))["code"] == "empty_listing"
    await ex.create(alice, offers={"bicycles": []}, expect=422)
    r = await ex.client.post(
        f"/api/listings/create-by-categories?user_id={bob.id}",
        json={"offers": {"property": [item()]}},
        headers=alice.headers,
    )
    assert r.status_code == 403
    for nothing in ("999999", "abc", "-1"):
        r = await ex.client.post(
            f"/api/listings/create-by-categories?user_id={nothing}",
            json={"offers": {"property": [item()]}},
            headers=alice.headers,
        )
        assert r.status_code == 404, nothing
    r = await ex.client.post("/api/listings/create-by-categories", json={"offers": {"property": [item()]}})
    assert r.status_code == 401


async def test_limits_count_stored_active_items_plus_the_request(ex: Exchange) -> None:
    alice = await ex.member()
    await ex.create(alice, offers={"property": [item() for _ in range(9)]})
    r = await ex.create(alice, offers={"property": [item(), item()]}, expect=422)
    assert r["code"] == "limit_exceeded"
    await ex.create(alice, offers={"property": [item()]})  # the 10th
    await ex.create(alice, wants={"property": [item() for _ in range(10)]})  # wants count apart
    # archived items do not count
    first = (await ex.client.get("/api/listings/my", headers=alice.headers)).json()["items"][-1]
    assert (
        await ex.client.delete(f"/api/listings/items/{first['id']}", headers=alice.headers)
    ).status_code == 204
    await ex.create(alice, offers={"property": [item()]})
    # 50 per member: 20 stored, 30 more fit, 31 do not
    slugs = ["photo_equipment", "garden_equipment", "decor_textiles", "clothing_footwear"]
    r = await ex.create(alice, offers={s: [item() for _ in range(8)] for s in slugs}, expect=422)
    assert r["code"] == "limit_exceeded"
    await ex.create(
        alice, offers={s: [item() for _ in range(7)] for s in slugs} | {"antiques_rare": [item(), item()]}
    )
    assert (await ex.client.get("/api/listings/my", headers=alice.headers)).json()["total"] == 50
    assert (await ex.create(alice, wants={"media_content": [item()]}, expect=422))["code"] == "limit_exceeded"


async def test_locations_rules(ex: Exchange) -> None:
    alice, bob, admin = await ex.member(), await ex.member(), await ex.admin_member()
    assert await ex.locations(alice, [SHYMKENT, ALMATY]) == {
        "user_id": alice.id,
        "locations": [ALMATY, SHYMKENT],
    }
    for bad in ([], [ALMATY, ALMATY], ["Москва"], [ALMATY, ASTANA, SHYMKENT, ALMATY]):
        await ex.locations(alice, bad, expect=422)
    r = await ex.client.put(
        f"/api/users/{alice.id}/locations", json={"locations": [ASTANA]}, headers=bob.headers
    )
    assert r.status_code == 403
    r = await ex.client.put(
        f"/api/users/{alice.id}/locations", json={"locations": [ASTANA]}, headers=admin.headers
    )
    assert r.status_code == 200
    assert (await ex.client.get(f"/api/users/{alice.id}")).json()["locations"] == [ASTANA]
    for nothing in ("424242", "x1"):
        r = await ex.client.put(
            f"/api/users/{nothing}/locations", json={"locations": [ASTANA]}, headers=admin.headers
        )
        assert r.status_code == 404
        assert (await ex.client.get(f"/api/users/{nothing}")).status_code == 404
    await ex.create(alice, offers={"property": [item()]}, locations=[ALMATY, ALMATY], expect=422)


async def test_owner_reads_changes_and_archives_an_item(ex: Exchange) -> None:
    alice, bob = await ex.member(), await ex.member()
    created = await ex.create(alice, offers={"bicycles": [lend(3000, 3)]})
    item_id = created["items"][0]["id"]
    path = f"/api/listings/items/{item_id}"
    assert (await ex.client.get(path, headers=alice.headers)).json()["value_tenge"] == 3000
    for verb in ("get", "delete"):
        assert (await ex.client.request(verb, path, headers=bob.headers)).status_code == 403
    assert (await ex.client.patch(path, json={"value_tenge": 1}, headers=bob.headers)).status_code == 403
    r = await ex.client.patch(
        path, json={"value_tenge": 6000, "duration_days": 2, "item_name": " Самокат "}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["daily_rate"] == 3000.0 and r.json()["item_name"] == "Самокат"
    for bad in (
        {"value_tenge": "5"},
        {"duration_days": None},
        {"item_name": "  "},
        {"value_tenge": 0.5},
        {"item_name": None},
    ):
        assert (await ex.client.patch(path, json=bad, headers=alice.headers)).status_code == 422, bad
    assert (await ex.client.delete(path, headers=alice.headers)).status_code == 204
    assert (await ex.client.get(path, headers=alice.headers)).json()["archived_at"] is not None
    assert (await ex.client.get("/api/listings/my", headers=alice.headers)).json() == {
        "items": [],
        "total": 0,
    }
    for nothing in ("999999", "abc", "0"):
        assert (
            await ex.client.get(f"/api/listings/items/{nothing}", headers=alice.headers)
        ).status_code == 404


async def test_browse_filters_pages_and_orders_newest_first(ex: Exchange) -> None:
    alice, bob = await ex.member(ALMATY), await ex.member(ASTANA, SHYMKENT)
    await ex.create(
        alice, offers={"property": [item("A1", 100), item("A2", 200)], "bicycles": [lend(900, 3, "A3")]}
    )
    await ex.create(bob, offers={"property": [item("B1", 300)]}, wants={"property": [item("B2", 150)]})
    r = await ex.client.get("/api/listings/offers")
    body = r.json()
    assert r.status_code == 200 and body["total"] == 4 and body["skip"] == 0 and body["limit"] == 20
    assert [i["item_name"] for i in body["items"]] == ["B1", "A3", "A2", "A1"]
    assert body["filters_applied"] == {}

    async def names(**params: Any) -> list[str]:
        r = await ex.client.get("/api/listings/offers", params=params)
        assert r.status_code == 200, r.text
        return [i["item_name"] for i in r.json()["items"]]

    assert await names(city=ALMATY) == ["A3", "A2", "A1"]
    assert await names(city=SHYMKENT) == ["B1"]
    assert await names(category="property", min_price=200, max_price=300) == ["B1", "A2"]
    assert await names(max_price=900, exchange_type="temporary") == ["A3"]
    assert await names(skip=1, limit=2) == ["A3", "A2"]
    r = await ex.client.get("/api/listings/offers", params={"category": "property", "city": ALMATY})
    assert r.json()["filters_applied"] == {"category": "property", "city": ALMATY}
    assert [i["item_name"] for i in (await ex.client.get("/api/listings/wants")).json()["items"]] == ["B2"]
    for bad in (
        {"skip": -1},
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"exchange_type": "forever"},
        {"min_price": -1},
    ):
        r = await ex.client.get("/api/listings/offers", params=bad)
        assert r.status_code == 422 and r.json()["code"], bad
    r = await ex.client.get(f"/api/listings/user/{alice.id}")
    assert r.status_code == 200 and r.json()["total"] == 3
    assert (await ex.client.get("/api/listings/user/999999")).status_code == 404
