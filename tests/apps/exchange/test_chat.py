"""The chat of an exchange over HTTP (the socket is tested across processes in test_live.py)."""

from __future__ import annotations

from tests.apps.exchange.conftest import ALMATY, Exchange
from tests.apps.exchange.test_exchanges import proposed_pair


async def test_send_history_unread_and_mark_read(ex: Exchange) -> None:
    alice, bob, p = await proposed_pair(ex)
    eid = p["id"]
    base = f"/api/chat/exchange/{eid}"
    r = await ex.client.post(
        f"{base}/messages", json={"text": "Привет! Когда удобно?"}, headers=alice.headers
    )
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["sender_id"] == alice.id and sent["message_type"] == "text" and sent["is_read"] is True
    assert sent["exchange_id"] == eid and sent["message_text"] == "Привет! Когда удобно?"
    r = await ex.client.post(
        f"{base}/messages", json={"text": "photo.jpg", "message_type": "IMAGE"}, headers=alice.headers
    )
    assert r.json()["message_type"] == "image"
    await ex.client.post(f"{base}/messages", json={"text": "Завтра"}, headers=bob.headers)

    bob_view = (await ex.client.get(f"{base}/history", headers=bob.headers)).json()
    assert bob_view["total"] == 3 and bob_view["unread_count"] == 2
    assert [m["message_text"] for m in bob_view["messages"]] == [
        "Привет! Когда удобно?",
        "photo.jpg",
        "Завтра",
    ]
    assert [m["is_read"] for m in bob_view["messages"]] == [False, False, True]
    assert (await ex.client.get("/api/chat/unread-counts", headers=bob.headers)).json() == {
        "total_unread": 2,
        "exchanges": {eid: 2},
    }
    assert (await ex.client.get("/api/chat/unread-counts", headers=alice.headers)).json()["total_unread"] == 1
    r = await ex.client.post(f"{base}/mark-read", headers=bob.headers)
    assert r.json() == {"marked_read": 2, "exchange_id": eid}
    assert (await ex.client.post(f"{base}/mark-read", headers=bob.headers)).json()["marked_read"] == 0
    bob_view = (
        await ex.client.get(f"{base}/history", params={"skip": 1, "limit": 1}, headers=bob.headers)
    ).json()
    assert bob_view["unread_count"] == 0 and [m["is_read"] for m in bob_view["messages"]] == [True]
    assert (await ex.client.get("/api/chat/unread-counts", headers=bob.headers)).json() == {
        "total_unread": 0,
        "exchanges": {},
    }


async def test_bad_messages_and_strangers(ex: Exchange) -> None:
    alice, _bob, p = await proposed_pair(ex)
    eve = await ex.member(ALMATY)
    base = f"/api/chat/exchange/{p['id']}"
    for bad in (
        {"text": "   "},
        {"text": ""},
        {"text": "x" * 2001},
        {},
        {"text": 5},
        {"text": "a", "message_type": "video"},
    ):
        r = await ex.client.post(f"{base}/messages", json=bad, headers=alice.headers)
        assert r.status_code == 422 and r.json()["code"], bad
    assert (
        await ex.client.post(f"{base}/messages", json={"text": "x" * 2000}, headers=alice.headers)
    ).status_code == 201
    assert (
        await ex.client.get(f"{base}/history", params={"limit": 101}, headers=alice.headers)
    ).status_code == 422
    for method, path in (
        ("post", f"{base}/messages"),
        ("get", f"{base}/history"),
        ("post", f"{base}/mark-read"),
    ):
        r = await ex.client.request(method, path, json={"text": "hi"}, headers=eve.headers)
        assert r.status_code == 403
        r = await ex.client.request(
            method, path.replace(p["id"], "nope"), json={"text": "hi"}, headers=eve.headers
        )
        assert r.status_code == 404
        assert (await ex.client.request(method, path, json={"text": "hi"})).status_code == 401
