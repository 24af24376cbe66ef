"""Reviews after completion, rating summary and trust score."""

from __future__ import annotations

from tests.apps.exchange.conftest import ALMATY, Exchange, Member
from tests.apps.exchange.test_exchanges import proposed_pair


async def completed_pair(ex: Exchange) -> tuple[Member, Member, str]:
    alice, bob, p = await proposed_pair(ex)
    for action in ("accept", "confirm"):
        for who in (alice, bob):
            await ex.act(who, p["id"], action)
    return alice, bob, p["id"]


async def test_review_after_completion_once_per_author(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    body = {
        "exchange_id": p["id"],
        "target_user_id": bob.id,
        "rating": 5,
        "text": "Отлично",
        "is_public": True,
    }
    r = await ex.client.post("/api/reviews", json=body, headers=alice.headers)
    assert r.status_code == 409 and r.json()["code"] == "exchange_not_completed"
    for action in ("accept", "confirm"):
        for who in (alice, bob):
            await ex.act(who, p["id"], action)
    r = await ex.client.post(
        "/api/reviews", json={**body, "target_user_id": str(bob.id)}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    review = r.json()
    assert review["author_id"] == alice.id and review["target_id"] == bob.id and review["rating"] == 5
    assert set(review) == {
        "id",
        "exchange_id",
        "author_id",
        "target_id",
        "rating",
        "text",
        "is_public",
        "created_at",
    }
    r = await ex.client.post("/api/reviews", json=body, headers=alice.headers)
    assert r.status_code == 409
    r = await ex.client.post(
        "/api/reviews",
        json={**body, "target_user_id": alice.id, "rating": 3, "is_public": False},
        headers=bob.headers,
    )
    assert r.status_code == 201
    listed = (await ex.client.get(f"/api/reviews/users/{bob.id}")).json()
    assert listed["summary"] == {"average_rating": 5.0, "total_reviews": 1} and len(listed["reviews"]) == 1
    hidden = (await ex.client.get(f"/api/reviews/users/{alice.id}")).json()
    assert hidden["reviews"] == [] and hidden["summary"]["total_reviews"] == 1
    rating = (await ex.client.get(f"/api/reviews/users/{bob.id}/rating")).json()
    assert rating["user_id"] == bob.id and rating["exchanges_completed"] == 1 and rating["total_reviews"] == 1
    assert 0 <= rating["trust_score"] <= 100
    assert (
        rating["trust_score"]
        > (await ex.client.get(f"/api/reviews/users/{alice.id}/rating")).json()["trust_score"]
    )
    profile = (await ex.client.get(f"/api/users/{bob.id}")).json()
    assert profile["rating"] == {"average_rating": 5.0, "total_reviews": 1}


async def test_bad_reviews(ex: Exchange) -> None:
    alice, bob, eid = await completed_pair(ex)
    eve = await ex.member(ALMATY)
    good = {"exchange_id": eid, "target_user_id": bob.id, "rating": 4, "text": "ok", "is_public": True}
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 4.5}, {"rating": None}):
        r = await ex.client.post("/api/reviews", json={**good, **bad}, headers=alice.headers)
        assert r.status_code == 422, bad
    assert (
        await ex.client.post("/api/reviews", json={**good, "target_user_id": eve.id}, headers=alice.headers)
    ).status_code == 422
    assert (
        await ex.client.post("/api/reviews", json={**good, "target_user_id": alice.id}, headers=alice.headers)
    ).status_code == 422
    assert (await ex.client.post("/api/reviews", json=good, headers=eve.headers)).status_code == 403
    assert (
        await ex.client.post("/api/reviews", json={**good, "exchange_id": "nope"}, headers=alice.headers)
    ).status_code == 404
    for nobody in (999_999, "nobody"):
        r = await ex.client.post(
            "/api/reviews", json={**good, "target_user_id": nobody}, headers=alice.headers
        )
        assert r.status_code == 404
    assert (await ex.client.post("/api/reviews", json=good)).status_code == 401
    assert (await ex.client.get("/api/reviews/users/999999/rating")).status_code == 404
