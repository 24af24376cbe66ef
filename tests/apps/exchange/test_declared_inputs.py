"""What the OpenAPI document declares for exchange inputs is what the server takes (issue 12.10):
integers as JSON Schema means them (``1.0`` yes, ``true`` no) and the 404s a route answers."""

from __future__ import annotations

from tests.apps.exchange.conftest import ALMATY, Exchange, item


async def test_a_boolean_is_not_a_user_id_and_an_unknown_one_is_a_declared_404(ex: Exchange) -> None:
    alice = await ex.member(ALMATY)
    r = await ex.client.post("/api/matching/run-pipeline", json={"user_id": True}, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert (await ex.run(alice, user_id=float(alice.id)))["errors"] == []
    await ex.run(alice, user_id=2_000_000_000, expect=404)
    spec = (await ex.client.get("/openapi.json")).json()
    for path, method in (
        ("/api/matching/run-pipeline", "post"),
        ("/api/reviews", "post"),
        ("/api/listings/create-by-categories", "post"),
        ("/v1/categories", "get"),
        ("/v1/categories/{exchange_type}", "get"),
    ):
        assert "404" in spec["paths"][path][method]["responses"], path


async def test_a_rating_is_an_integer_in_any_json_spelling_but_not_a_string(ex: Exchange) -> None:
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    body = {"exchange_id": "nothing-here", "target_user_id": bob.id}
    for rating in (True, "5", 4.5):
        r = await ex.client.post("/api/reviews", json={**body, "rating": rating}, headers=alice.headers)
        assert r.status_code == 422, (rating, r.text)
    # 5.0 is read as 5: the request gets past validation to the exchange lookup.
    r = await ex.client.post("/api/reviews", json={**body, "rating": 5.0}, headers=alice.headers)
    assert r.status_code == 404, r.text


async def test_whole_floats_are_integers_and_bounds_are_declared(ex: Exchange) -> None:
    spec = (await ex.client.get("/openapi.json")).json()["components"]["schemas"]
    assert spec["ReviewCreate"]["properties"]["rating"] | {"title": None} == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "title": None,
    }
    alice = await ex.member(ALMATY)
    created = await ex.create(alice, wants={}, offers={"physical_media": [item("Vinyl", 300)]})
    item_id = created["items"][0]["id"]
    r = await ex.client.patch(
        f"/api/listings/items/{item_id}", json={"value_tenge": 304.0}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["value_tenge"] == 304, r.text
    r = await ex.client.patch(
        f"/api/listings/items/{item_id}", json={"value_tenge": "304"}, headers=alice.headers
    )
    assert r.status_code == 422, r.text
