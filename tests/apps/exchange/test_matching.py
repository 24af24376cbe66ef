"""Matching through HTTP: proposals stored as exchanges, re-matching in the background."""

from __future__ import annotations

from tests.apps.exchange.conftest import ALMATY, ASTANA, Exchange, Member, item, lend


async def pair(ex: Exchange, a_value: int = 10_000, b_value: int = 10_000) -> tuple[Member, Member]:
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY, ASTANA)
    await ex.swap(alice, "personal_transport", "physical_media", a_value, b_value)
    await ex.swap(bob, "physical_media", "personal_transport", b_value, a_value)
    return alice, bob


async def test_a_pair_is_proposed_in_the_background_and_notified(ex: Exchange) -> None:
    alice, bob = await pair(ex, 10_000, 9_000)
    await ex.settle()
    [mine] = await ex.proposals(alice)
    assert mine["kind"] == "pair" and mine["status"] == "proposed" and mine["exchange_type"] == "permanent"
    assert mine["score"] == 0.9
    assert [p["user_id"] for p in mine["participants"]] == [alice.id, bob.id]
    assert all(p["decision"] == "pending" and p["confirmed"] is False for p in mine["participants"])
    assert len(mine["items"]) == 4 and isinstance(mine["id"], str)
    assert await ex.proposals(bob) == [mine]
    for who in (alice, bob):
        notes = (await ex.client.get("/api/notifications/", headers=who.headers)).json()
        assert notes["count"] == 1
        [note] = notes["notifications"]
        assert note["type"] == "bilateral_match" and note["payload"] == {
            "exchange_id": mine["id"],
            "score": 0.9,
        }
        assert note["user_id"] == who.id and note["read"] is False
    assert await ex.run(alice) == {
        "bilateral_matches": 1,
        "exchange_chains": 0,
        "total_participants": 2,
        "errors": [],
    }
    assert len(await ex.proposals(alice)) == 1  # re-runs never duplicate
    r = await ex.client.get(f"/api/matching/find-matches/{alice.id}", headers=alice.headers)
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [mine["id"]]
    status = (await ex.client.get("/api/matching/status", headers=alice.headers)).json()
    assert status["status"] == "success" and status["last_run"] and status["bilateral_matches"] == 1


async def test_pipeline_without_background_matching(make_client, make_user, session, settings) -> None:  # type: ignore[no-untyped-def]
    async with make_client(exchange_rematch_in_background=False) as client:
        ex = Exchange(client, make_user, session, settings)
        alice, _bob = await pair(ex)
        assert len(await ex.proposals(alice)) == 1


async def test_no_match_without_a_shared_city_below_the_score_or_with_oneself(ex: Exchange) -> None:
    alice, bob = await ex.member(ALMATY), await ex.member(ASTANA)
    await ex.swap(alice, "personal_transport", "physical_media", 10_000)
    await ex.swap(bob, "physical_media", "personal_transport", 10_000)
    carol = await ex.member(ALMATY)
    await ex.create(
        carol,
        offers={"physical_media": [item(value=10_000)]},
        wants={"personal_transport": [item(value=10_000)]},
    )
    await ex.create(
        carol,
        offers={"personal_transport": [item(value=10_000)]},
        wants={"physical_media": [item(value=10_000)]},
    )
    await ex.settle()
    # carol matches alice (same city), never herself; bob is in another city
    assert {tuple(p["user_id"] for p in e["participants"]) for e in await ex.proposals(carol)} == {
        (alice.id, carol.id)
    }
    assert await ex.proposals(bob) == []
    assert (await ex.run(bob))["bilateral_matches"] == 0
    dave, erin = await ex.member(ASTANA), await ex.member(ASTANA)
    await ex.swap(dave, "property", "farm_products", 10_000, 10_000)
    await ex.swap(erin, "farm_products", "property", 6_900, 10_000)  # fits within 15 %? no: 6,900 vs 10,000
    await ex.settle()
    assert await ex.proposals(dave) == []


async def test_a_chain_of_three(ex: Exchange) -> None:
    a, b, c = await ex.member(ALMATY), await ex.member(ALMATY), await ex.member(ALMATY)
    await ex.swap(a, "property", "garden_equipment", 100_000)
    await ex.swap(b, "furniture_appliances", "property", 95_000, 100_000)
    await ex.swap(c, "garden_equipment", "furniture_appliances", 100_000, 95_000)
    await ex.settle()
    [chain] = await ex.proposals(b)
    assert chain["kind"] == "chain" and len(chain["participants"]) == 3 and chain["score"] == 0.95
    seats = chain["participants"]
    assert seats[0]["user_id"] == a.id  # participants[i] gives to participants[i + 1]
    assert [s["user_id"] for s in seats] == [a.id, b.id, c.id]
    note = (await ex.client.get("/api/notifications/", headers=c.headers)).json()["notifications"][0]
    assert note["type"] == "chain_match"
    assert (await ex.run(a))["exchange_chains"] == 1


async def test_temporary_items_match_per_day(ex: Exchange) -> None:
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    await ex.create(alice, offers={"bicycles": [lend(7_000, 7)]}, wants={"hand_tools": [lend(30_000, 30)]})
    await ex.create(bob, offers={"hand_tools": [lend(30_000, 30)]}, wants={"bicycles": [lend(7_000, 7)]})
    await ex.settle()
    [lending] = await ex.proposals(alice)
    assert lending["exchange_type"] == "temporary" and lending["score"] == 1.0


async def test_a_change_that_stops_fitting_cancels_the_proposal_and_a_fitting_one_proposes_again(
    ex: Exchange,
) -> None:
    alice, _bob = await pair(ex)
    await ex.settle()
    [first] = await ex.proposals(alice)
    offer_id = first["participants"][0]["offer_item_id"]
    r = await ex.client.patch(
        f"/api/listings/items/{offer_id}", json={"value_tenge": 20_000}, headers=alice.headers
    )
    assert r.status_code == 200
    await ex.settle()
    [gone] = await ex.proposals(alice)
    assert gone["id"] == first["id"] and gone["status"] == "cancelled"
    await ex.client.patch(
        f"/api/listings/items/{offer_id}", json={"value_tenge": 10_000}, headers=alice.headers
    )
    await ex.settle()
    assert len(await ex.proposals(alice, "proposed")) == 1


async def test_archiving_an_item_cancels_its_open_exchanges(ex: Exchange) -> None:
    alice, bob = await pair(ex)
    await ex.settle()
    [proposal] = await ex.proposals(alice)
    await ex.act(alice, proposal["id"], "accept")
    await ex.act(bob, proposal["id"], "accept")
    want_id = proposal["participants"][1]["want_item_id"]
    assert (await ex.client.delete(f"/api/listings/items/{want_id}", headers=bob.headers)).status_code == 204
    assert (await ex.exchange(alice, proposal["id"]))["status"] == "cancelled"


async def test_a_declined_combination_is_never_proposed_again(ex: Exchange) -> None:
    alice, bob = await pair(ex)
    await ex.settle()
    [proposal] = await ex.proposals(alice)
    r = await ex.act(bob, proposal["id"], "decline", reason="Передумал")
    assert r == {
        "chain_id": proposal["id"],
        "user_id": bob.id,
        "status": "declined",
        "exchange_status": "declined",
    }
    await ex.run(alice)
    await ex.run(bob)
    assert [e["status"] for e in await ex.proposals(alice)] == ["declined"]
    assert (await ex.exchange(alice, proposal["id"]))["participants"][1]["reason"] == "Передумал"


async def test_pipeline_scope_and_errors(ex: Exchange) -> None:
    alice, bob = await pair(ex)
    admin = await ex.admin_member()
    await ex.run(alice, bob.id, expect=403)
    await ex.run(alice, 999_999, expect=404)
    await ex.run(alice, "nobody", expect=404)
    assert (await ex.run(alice, str(alice.id)))["bilateral_matches"] == 1
    assert (await ex.run(admin, None))["total_participants"] == 2
    r = await ex.client.post("/api/matching/run-pipeline", json={"user_id": None})
    assert r.status_code == 401
    r = await ex.client.get(f"/api/matching/find-matches/{bob.id}", headers=alice.headers)
    assert r.status_code == 403
    r = await ex.client.get(f"/api/chains/user/{bob.id}", headers=alice.headers)
    assert r.status_code == 403
    r = await ex.client.get(f"/api/chains/user/{bob.id}", headers=admin.headers)
    assert r.status_code == 200 and r.json()["total"] == 1 and r.json()["limit"] == 20
    assert (await ex.client.get("/api/chains/all", headers=alice.headers)).status_code == 403
    r = await ex.client.get(
        "/api/chains/all", params={"status": "proposed", "limit": 100}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["total"] == 1
    for bad in ({"status": "open"}, {"limit": 101}, {"skip": -1}):
        assert (await ex.client.get("/api/chains/all", params=bad, headers=admin.headers)).status_code == 422


async def test_bulk_storing_skips_a_combination_proposed_meanwhile(ex: Exchange) -> None:
    """Two runs racing: the second stores, in one batch, a proposal the first already stored and a
    new one. The stored one is skipped through its open_key; only the new one is stored and
    notified."""
    from sqlalchemy import delete, func, select

    from basis.apps.exchange import matching
    from basis.apps.exchange.models import Exchange as Row
    from basis.apps.exchange.settings import ExchangeSettings

    alice, _bob = await pair(ex)
    carol, dave = await pair(ex, 20_000, 20_000)
    await ex.settle()
    [gone] = await ex.proposals(carol)
    await ex.session.execute(delete(Row).where(Row.id == gone["id"]))
    await ex.session.commit()
    market = await matching.load_market(ex.session, matching.rules_of(ex.settings.app(ExchangeSettings)))
    proposals = market.find(None).proposals
    assert len(proposals) == 2
    outcome = matching.RunOutcome()
    await matching._store(ex.session, proposals, outcome)
    await ex.session.commit()
    [again] = await ex.proposals(carol)
    assert outcome.created == [again["id"]] and again["id"] != gone["id"]
    assert sorted(n["user_id"] for n in outcome.notifications) == sorted([carol.id, dave.id])
    assert all(
        n["exchange_id"] == again["id"] and n["type"] == "bilateral_match" for n in outcome.notifications
    )
    assert len(await ex.proposals(alice)) == 1
    assert await ex.session.scalar(select(func.count()).select_from(Row)) == 2
