"""Exchanges: decisions, confirmations, completion exactly once, history, my exchanges."""

from __future__ import annotations

import asyncio

from tests.apps.exchange.conftest import ALMATY, Exchange, Member, item


async def proposed_pair(ex: Exchange) -> tuple[Member, Member, dict]:  # type: ignore[type-arg]
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    await ex.swap(alice, "personal_transport", "physical_media", 10_000)
    await ex.swap(bob, "physical_media", "personal_transport", 10_000)
    await ex.settle()
    [proposal] = await ex.proposals(alice)
    return alice, bob, proposal


async def test_accept_confirm_complete_and_history(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    eid = p["id"]
    await ex.act(alice, eid, "confirm", expect=409)  # not active yet
    r = await ex.act(alice, eid, "accept", user_id=bob.id)  # a body user_id is ignored
    assert r == {"chain_id": eid, "user_id": alice.id, "status": "accepted", "exchange_status": "proposed"}
    assert (await ex.act(alice, eid, "accept"))["status"] == "accepted"  # idempotent retry
    assert (await ex.act(bob, eid, "accept"))["exchange_status"] == "active"
    await ex.act(bob, eid, "decline", expect=409)  # only while proposed
    r = await ex.act(alice, eid, "confirm", confirmer_user_id=bob.id)
    assert r == {
        "status": "success", "exchange_id": eid, "confirmed_by": alice.id,
        "participants": [alice.id, bob.id], "items_archived": [], "exchange_status": "active",
    }  # fmt: skip
    assert (await ex.act(alice, eid, "confirm"))["items_archived"] == []  # repeat: 200
    done = await ex.act(bob, eid, "confirm")
    assert done["exchange_status"] == "completed" and sorted(done["items_archived"]) == sorted(p["items"])
    assert (await ex.act(alice, eid, "confirm"))["exchange_status"] == "completed"  # repeat after completion
    for who in (alice, bob):
        assert (await ex.client.get("/api/listings/my", headers=who.headers)).json()["total"] == 0
    final = await ex.exchange(bob, eid)
    assert (
        final["status"] == "completed"
        and final["completed_at"]
        and all(s["confirmed"] for s in final["participants"])
    )
    history = (await ex.client.get(f"/api/exchanges/{eid}/history", headers=alice.headers)).json()
    assert history["exchange_id"] == eid and history["participants"] == [alice.id, bob.id]
    assert [e["event_type"] for e in history["history"]] == [
        "created", "accepted", "accepted", "confirmed", "confirmed", "completed",
    ]  # fmt: skip
    assert [e["user_id"] for e in history["history"][1:5]] == [alice.id, bob.id, alice.id, bob.id]
    assert [e["id"] for e in await ex.proposals(alice, "completed")] == [eid]
    assert await ex.proposals(alice, "proposed") == []
    r = await ex.client.get("/api/exchanges/my-exchanges", params={"status": "open"}, headers=alice.headers)
    assert r.status_code == 422


async def test_only_participants_see_or_act_and_checks_run_in_order(ex: Exchange) -> None:
    alice, _bob, p = await proposed_pair(ex)
    eve, admin = await ex.member(ALMATY), await ex.admin_member()
    eid = p["id"]
    for path in (f"/api/exchanges/{eid}", f"/api/exchanges/{eid}/history"):
        assert (await ex.client.get(path, headers=eve.headers)).status_code == 403
        assert (await ex.client.get(path, headers=admin.headers)).status_code == 200
        assert (await ex.client.get(path)).status_code == 401
    for action in ("accept", "decline", "confirm"):
        await ex.act(eve, eid, action, expect=403)
        await ex.act(eve, "no-such-exchange", action, expect=404)
        r = await ex.client.post(
            f"/api/chains/{eid}/{action}" if action != "confirm" else f"/api/exchanges/{eid}/confirm"
        )
        assert r.status_code == 401
    await ex.exchange(alice, "no-such-exchange", expect=404)


async def test_decline_ends_the_proposal_for_everyone(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    await ex.act(alice, p["id"], "decline")
    assert (await ex.act(alice, p["id"], "decline"))["status"] == "declined"  # idempotent
    await ex.act(bob, p["id"], "accept", expect=409)
    await ex.act(bob, p["id"], "confirm", expect=409)
    r = await ex.client.post(
        f"/api/chains/{p['id']}/decline", json={"reason": "x" * 501}, headers=bob.headers
    )
    assert r.status_code == 422


async def test_completion_cancels_competing_proposals(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    carol = await ex.member(ALMATY)
    await ex.swap(carol, "physical_media", "personal_transport", 10_000)
    await ex.settle()
    rivals = [e for e in await ex.proposals(alice, "proposed") if e["id"] != p["id"]]
    assert len(rivals) == 1 and carol.id in [s["user_id"] for s in rivals[0]["participants"]]
    for who in (alice, bob):
        await ex.act(who, p["id"], "accept")
    for who in (alice, bob):
        await ex.act(who, p["id"], "confirm")
    assert (await ex.exchange(carol, rivals[0]["id"]))["status"] == "cancelled"
    history = (await ex.client.get(f"/api/exchanges/{rivals[0]['id']}/history", headers=carol.headers)).json()
    assert history["history"][-1]["event_type"] == "cancelled"


async def test_partners_confirming_at_once_complete_exactly_once(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    for who in (alice, bob):
        await ex.act(who, p["id"], "accept")
    answers = await asyncio.gather(
        *[ex.client.post(f"/api/exchanges/{p['id']}/confirm", headers=who.headers) for who in (alice, bob)]
    )
    assert [a.status_code for a in answers] == [200, 200]
    bodies = [a.json() for a in answers]
    assert sum(1 for b in bodies if b["items_archived"]) == 1
    assert all(b["exchange_status"] in ("active", "completed") for b in bodies)
    history = (await ex.client.get(f"/api/exchanges/{p['id']}/history", headers=bob.headers)).json()[
        "history"
    ]
    assert [e["event_type"] for e in history].count("completed") == 1


async def test_an_item_in_two_proposals_is_swapped_once(ex: Exchange) -> None:
    alice, bob, _p = await proposed_pair(ex)
    carol = await ex.member(ALMATY)
    await ex.create(
        carol,
        offers={"physical_media": [item(value=10_000)]},
        wants={"personal_transport": [item(value=10_000)]},
    )
    await ex.settle()
    both = await ex.proposals(alice, "proposed")
    assert len(both) == 2
    for e in both:
        for seat in e["participants"]:
            who = {alice.id: alice, bob.id: bob, carol.id: carol}[seat["user_id"]]
            await ex.act(who, e["id"], "accept")
    who_of = {alice.id: alice, bob.id: bob, carol.id: carol}
    await asyncio.gather(
        *[
            ex.client.post(f"/api/exchanges/{e['id']}/confirm", headers=who_of[s["user_id"]].headers)
            for e in both
            for s in e["participants"]
        ]
    )
    statuses = sorted([(await ex.exchange(alice, e["id"]))["status"] for e in both])
    assert statuses == ["cancelled", "completed"]


async def test_odd_exchange_ids_are_404_or_422_never_500(ex: Exchange) -> None:
    alice = await ex.member(ALMATY)
    for odd in ("a%00b", "x" * 65, "%F0%9F%98%80", "1"):
        r = await ex.client.get(f"/api/exchanges/{odd}", headers=alice.headers)
        assert r.status_code in (404, 422), (odd, r.status_code)
        r = await ex.client.post(f"/api/chains/{odd}/accept", headers=alice.headers)
        assert r.status_code in (404, 422), (odd, r.status_code)
    r = await ex.client.post(
        "/api/reviews",
        json={"exchange_id": "a\x00b", "target_user_id": 1, "rating": 5},
        headers=alice.headers,
    )
    assert r.status_code in (404, 422)
