"""Reports with the seven reasons, the moderation queue, resolutions and bans."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import select, update

from basis.apps.exchange import moderation
from basis.apps.exchange.models import Ban
from basis.identity.models import User
from tests.apps.exchange.conftest import ALMATY, Exchange, Member, item
from tests.apps.exchange.test_exchanges import proposed_pair
from tests.fixtures.auth import DEFAULT_PASSWORD

REASONS = [
    "price_mismatch",
    "unavailable_item",
    "fake_listing",
    "inappropriate_content",
    "spam",
    "fraud",
    "other",
]


async def test_reasons_and_reports(ex: Exchange) -> None:
    assert (await ex.client.get("/api/reports/reasons")).json() == {"reasons": REASONS}
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    listing = (await ex.create(bob, offers={"property": [item()]}))["items"][0]
    r = await ex.client.post(
        "/api/reports",
        json={
            "target_listing_id": str(listing["id"]),
            "reason": "FRAUD",
            "description": "fake",
            "evidence_urls": ["https://x/1.png"],
        },
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json() | {"id": 0, "created_at": ""} == {
        "id": 0, "reporter_id": alice.id, "target_listing_id": listing["id"], "target_user_id": None,
        "target_message_id": None, "reason": "fraud", "status": "pending", "created_at": "",
    }  # fmt: skip
    r = await ex.client.post(
        "/api/reports", json={"target_user_id": bob.id, "reason": "spam"}, headers=alice.headers
    )
    assert r.status_code == 201
    cases = [
        ({"reason": "spam"}, 422),
        ({"target_user_id": bob.id, "target_listing_id": listing["id"], "reason": "spam"}, 422),
        ({"target_user_id": bob.id, "reason": "boring"}, 422),
        ({"target_user_id": alice.id, "reason": "spam"}, 422),
        ({"target_user_id": 999_999, "reason": "spam"}, 404),
        ({"target_listing_id": "nope", "reason": "spam"}, 404),
    ]
    for body, status in cases:
        assert (
            await ex.client.post("/api/reports", json=body, headers=alice.headers)
        ).status_code == status, body
    r = await ex.client.post(
        "/api/reports", json={"target_listing_id": listing["id"], "reason": "spam"}, headers=bob.headers
    )
    assert r.status_code == 422  # your own listing is yourself
    assert (
        await ex.client.post("/api/reports", json={"target_user_id": bob.id, "reason": "spam"})
    ).status_code == 401


async def test_reports_are_rate_limited_per_author(make_client, make_user, session, settings) -> None:  # type: ignore[no-untyped-def]
    async with make_client(exchange_reports_per_hour=2) as client:
        ex = Exchange(client, make_user, session, settings)
        alice, bob = await ex.member(), await ex.member()
        codes = [
            (
                await client.post(
                    "/api/reports", json={"target_user_id": bob.id, "reason": "spam"}, headers=alice.headers
                )
            ).status_code
            for _ in range(3)
        ]
        assert codes == [201, 201, 429]
        r = await client.post(
            "/api/reports", json={"target_user_id": alice.id, "reason": "spam"}, headers=bob.headers
        )
        assert r.status_code == 201


async def test_queue_and_resolutions(ex: Exchange) -> None:
    alice, bob = await ex.member(ALMATY), await ex.member(ALMATY)
    operator = await ex.member(role="operator")
    listing = (await ex.create(bob, offers={"property": [item()]}))["items"][0]
    report = (
        await ex.client.post(
            "/api/reports",
            json={"target_listing_id": listing["id"], "reason": "fake_listing"},
            headers=alice.headers,
        )
    ).json()
    assert (await ex.client.get("/api/admin/reports", headers=alice.headers)).status_code == 403
    queue = (
        await ex.client.get("/api/admin/reports", params={"status": "pending"}, headers=operator.headers)
    ).json()
    assert queue["total"] == 1 and queue["reports"][0]["id"] == report["id"]
    assert (
        await ex.client.get("/api/admin/reports", params={"status": "open"}, headers=operator.headers)
    ).status_code == 422
    path = f"/api/admin/reports/{report['id']}/resolve"
    assert (
        await ex.client.post(path, json={"resolution": "ignored"}, headers=operator.headers)
    ).status_code == 422
    assert (
        await ex.client.post(path, json={"resolution": "dismissed"}, headers=alice.headers)
    ).status_code == 403
    r = await ex.client.post(
        path, json={"resolution": "LISTING_REMOVED", "admin_notes": "fake"}, headers=operator.headers
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["status"] == "resolved"
        and r.json()["resolution"] == "listing_removed"
        and r.json()["resolved_at"]
    )
    assert (
        await ex.client.post(path, json={"resolution": "dismissed"}, headers=operator.headers)
    ).status_code == 409
    assert (await ex.client.get("/api/listings/my", headers=bob.headers)).json()["total"] == 0
    assert (
        await ex.client.get("/api/admin/reports", params={"status": "resolved"}, headers=operator.headers)
    ).json()["total"] == 1
    assert (
        await ex.client.post(
            "/api/admin/reports/424242/resolve", json={"resolution": "dismissed"}, headers=operator.headers
        )
    ).status_code == 404


async def test_a_ban_stops_the_member_at_once(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    admin = await ex.admin_member()
    email = await ex.session.scalar(select(User.email).where(User.id == bob.id))
    await ex.session.commit()  # end the read: SQLite holds its write lock to the end of a transaction
    login = {"email": email, "password": DEFAULT_PASSWORD}
    assert (await ex.client.post("/auth/login", json=login)).status_code == 200
    r = await ex.client.post(
        f"/api/admin/users/{bob.id}/ban", json={"reason": "fraud", "duration_days": 7}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "banned" and r.json()["user_id"] == bob.id and r.json()["ban_until"]
    assert (await ex.client.get("/api/listings/my", headers=bob.headers)).status_code == 401  # token dead
    assert (await ex.client.post("/auth/login", json=login)).status_code == 401
    assert (await ex.exchange(alice, p["id"]))["status"] == "cancelled"
    assert (await ex.client.get("/api/listings/offers")).json()["total"] == 1  # only alice's
    assert (await ex.client.get(f"/api/listings/user/{bob.id}")).json()["total"] == 0
    r = await ex.client.post(f"/api/admin/users/{admin.id}/ban", json={"reason": "x"}, headers=admin.headers)
    assert r.status_code == 422
    assert (
        await ex.client.post(f"/api/admin/users/{alice.id}/ban", json={"reason": "x"}, headers=alice.headers)
    ).status_code == 403
    assert (
        await ex.client.post("/api/admin/users/999999/ban", json={"reason": "x"}, headers=admin.headers)
    ).status_code == 404
    # the ban ends by itself
    await ex.session.execute(update(Ban).values(ban_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    await ex.session.commit()
    async with ex.app.state.db.sessionmaker() as s:
        assert await moderation.lift_expired(s, settings=ex.app.state.settings, infra=ex.app.state.infra) == [
            bob.id
        ]
    assert (await ex.client.get(f"/api/listings/user/{bob.id}")).json()["total"] == 2
    assert (await ex.client.post("/auth/login", json=login)).status_code == 200


async def test_a_reported_message_is_hidden_for_its_reporter_until_a_moderator_removes_it(
    ex: Exchange,
) -> None:
    alice, bob, p = await proposed_pair(ex)
    carol, operator = await ex.member(ALMATY), await ex.member(role="operator")
    base = f"/api/chat/exchange/{p['id']}"
    sent = [
        (await ex.client.post(f"{base}/messages", json={"text": text}, headers=alice.headers)).json()
        for text in ("pay me outside the app", "see you at 5")
    ]
    rude = sent[0]["id"]

    async def report(member: Member, target: Any, **extra: Any) -> httpx.Response:
        body = {"target_message_id": target, "reason": "inappropriate_content", **extra}
        return await ex.client.post("/api/reports", json=body, headers=member.headers)

    async def texts(member: Member) -> tuple[list[str], int, int]:
        view = (await ex.client.get(f"{base}/history", headers=member.headers)).json()
        return [m["message_text"] for m in view["messages"]], view["total"], view["unread_count"]

    assert (await report(carol, rude)).status_code == 403  # not in this exchange
    assert (await report(bob, 424242)).status_code == 404
    assert (await report(bob, "not-an-id")).status_code == 404
    assert (await report(alice, rude)).json()["code"] == "self_report"
    assert (await report(bob, rude, target_user_id=alice.id)).json()["code"] == "invalid_target"
    assert await texts(bob) == (["pay me outside the app", "see you at 5"], 2, 2)

    r = await report(bob, str(rude))
    assert r.status_code == 201, r.text
    assert r.json()["target_message_id"] == rude and r.json()["target_listing_id"] is None
    # Hidden for the reporter at once, in history, totals and unread counts alike ...
    assert await texts(bob) == (["see you at 5"], 1, 1)
    assert (await ex.client.get("/api/chat/unread-counts", headers=bob.headers)).json()["total_unread"] == 1
    assert (await ex.client.post(f"{base}/mark-read", headers=bob.headers)).json()["marked_read"] == 1
    # ... while the others still see it until a moderator decides.
    assert (await texts(alice))[0] == ["pay me outside the app", "see you at 5"]

    report_id = r.json()["id"]
    path = f"/api/admin/reports/{report_id}/resolve"
    r = await ex.client.post(path, json={"resolution": "listing_removed"}, headers=operator.headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_resolution"
    r = await ex.client.post(path, json={"resolution": "MESSAGE_REMOVED"}, headers=operator.headers)
    assert r.status_code == 200 and r.json()["resolution"] == "message_removed"
    assert (await texts(alice))[:2] == (["see you at 5"], 1)
    assert (await texts(bob))[:2] == (["see you at 5"], 1)
    assert (await report(bob, rude)).status_code == 404  # removed: nothing left to report
    queue = (await ex.client.get("/api/admin/reports", headers=operator.headers)).json()["reports"]
    assert [(q["target_message_id"], q["status"]) for q in queue] == [(rude, "resolved")]
