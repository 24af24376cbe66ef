"""Rules 22-27, 37, 38: the socket protocol with several tabs per user, on a real server."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.apps.messenger.conftest import Api, receive, receive_type, send, silent


async def test_a_send_is_acked_to_its_tab_and_pushed_to_every_tab_of_every_member(live: Api) -> None:
    ann, bob, eve = await live.person(), await live.person(), await live.person()
    chat = await live.dialog(ann, bob)
    ann1, ann2, bob1, bob2, eve1 = [await live.socket(p) for p in (ann, ann, bob, bob, eve)]
    await asyncio.sleep(0.1)
    await send(ann1, {"type": "send_message", "temp_id": "t1", "conversation_id": chat["id"], "text": " hi "})
    ack = await receive_type(ann1, "message_sent")
    assert ack["temp_id"] == "t1" and ack["message"]["text"] == "hi"
    for ws in (ann1, ann2, bob1, bob2):
        event = await receive_type(ws, "new_message")
        assert event["conversation_id"] == event["chat_id"] == chat["id"]
        assert event["message"] == ack["message"]
    assert await silent(ann2, ignore=("presence",))
    assert await silent(eve1)

    # The same temp_id again, by chat_id this time: the first message, no second push.
    await send(ann2, {"type": "send_message", "temp_id": "t1", "chat_id": chat["id"], "text": "hi"})
    again = await receive_type(ann2, "message_sent")
    assert again["message"]["id"] == ack["message"]["id"]
    assert await silent(bob1, ignore=("presence",))
    rest = await live.send(ann, chat["id"], "hi", temp_id="t1", expect=200)
    assert rest["id"] == ack["message"]["id"]


async def test_typing_goes_to_the_other_members_only(live: Api) -> None:
    ann, bob, eve = await live.person(), await live.person(), await live.person()
    chat = await live.dialog(ann, bob)
    ann1, bob1, eve1 = [await live.socket(p) for p in (ann, bob, eve)]
    await asyncio.sleep(0.1)
    await send(ann1, {"type": "typing_start", "conversation_id": chat["id"]})
    typing = await receive_type(bob1, "typing")
    assert typing == {
        "type": "typing",
        "conversation_id": chat["id"],
        "chat_id": chat["id"],
        "user_id": ann.id,
        "is_typing": True,
    }
    await send(ann1, {"type": "typing_stop", "chat_id": chat["id"]})
    assert (await receive_type(bob1, "typing"))["is_typing"] is False
    assert await silent(ann1, ignore=("presence",))
    assert await silent(eve1)
    # A stranger's typing into the chat is refused, and nobody hears it.
    await send(eve1, {"type": "typing_start", "conversation_id": chat["id"]})
    error = await receive(eve1)
    assert error["type"] == "error" and error["status"] == 403
    assert await silent(bob1, ignore=("presence",))


async def test_receipts_reach_every_members_tabs_and_the_unread_count_follows(live: Api) -> None:
    ann, bob = await live.person(), await live.person()
    chat = await live.dialog(ann, bob)
    first = await live.send(ann, chat["id"], "one")
    second = await live.send(ann, chat["id"], "two")
    ann1, bob1, bob2 = [await live.socket(p) for p in (ann, bob, bob)]
    await asyncio.sleep(0.1)
    await send(bob1, {"type": "delivered", "message_id": second["id"]})
    for ws in (ann1, bob1, bob2):
        event = await receive_type(ws, "delivered")
        assert event == {
            "type": "delivered",
            "conversation_id": chat["id"],
            "chat_id": chat["id"],
            "message_id": second["id"],
            "user_id": bob.id,
        }
    await send(bob1, {"type": "read", "message_id": first["id"], "conversation_id": chat["id"]})
    for ws in (ann1, bob1, bob2):
        assert (await receive_type(ws, "read"))["message_id"] == first["id"]
    assert (await live.get(bob, f"/api/chats/{chat['id']}"))["unread_count"] == 1
    # A read over REST pushes the same event.
    await live.post(bob, f"/api/chats/{chat['id']}/read", {"message_id": second["id"]})
    event = await receive_type(bob2, "read")
    assert event["message_id"] == second["id"] and event["user_id"] == bob.id
    assert (await live.get(bob, "/api/chats"))[0]["unread_count"] == 0


async def test_edits_and_deletions_are_pushed(live: Api) -> None:
    ann, bob = await live.person(), await live.person()
    chat = await live.dialog(ann, bob)
    message = await live.send(ann, chat["id"], "draft")
    bob1 = await live.socket(bob)
    await asyncio.sleep(0.1)
    path = f"/api/chats/{chat['id']}/messages/{message['id']}"
    await live.client.patch(path, json={"text": "final"}, headers=ann.headers)
    edited = await receive_type(bob1, "message_edited")
    assert edited["message"]["text"] == "final" and edited["chat_id"] == chat["id"]
    await live.client.delete(path, headers=ann.headers)
    deleted = await receive_type(bob1, "message_deleted")
    assert deleted["message_id"] == message["id"] and deleted["conversation_id"] == chat["id"]


async def test_refused_events_answer_an_error_and_the_socket_stays_open(live: Api) -> None:
    ann, bob, eve = await live.person(), await live.person(), await live.person()
    chat = await live.dialog(ann, bob)
    hidden = await live.dialog(bob, eve)
    ws = await live.socket(ann)
    cases = [
        ("not json", 400),
        (json.dumps({"type": "dance"}), 400),
        (json.dumps([1, 2]), 400),
        (
            json.dumps(
                {"type": "send_message", "temp_id": "a", "conversation_id": hidden["id"], "text": "x"}
            ),
            403,
        ),
        (json.dumps({"type": "send_message", "temp_id": "b", "conversation_id": 999999, "text": "x"}), 404),
        (
            json.dumps({"type": "send_message", "temp_id": "c", "conversation_id": chat["id"], "text": "  "}),
            422,
        ),
        (json.dumps({"type": "send_message", "temp_id": "d", "conversation_id": "one", "text": "x"}), 422),
        (
            json.dumps(
                {"type": "send_message", "temp_id": "e", "conversation_id": chat["id"], "text": "x" * 4097}
            ),
            422,
        ),
        (json.dumps({"type": "read", "message_id": 999999}), 404),
        (json.dumps({"type": "delivered", "message_id": "x"}), 422),
    ]
    for raw, status in cases:
        await ws.send(raw)
        error = await receive_type(ws, "error")
        assert error["status"] == status, (raw, error)
        assert error["code"] and error["detail"]
        if '"temp_id"' in raw:
            assert error["temp_id"] == json.loads(raw)["temp_id"]
    assert await live.get(ann, f"/api/chats/{chat['id']}/messages") == []
    await send(
        ws, {"type": "send_message", "temp_id": "ok", "conversation_id": chat["id"], "text": "still here"}
    )
    assert (await receive_type(ws, "message_sent"))["message"]["text"] == "still here"


async def test_a_handshake_without_a_valid_access_token_is_refused(live: Api) -> None:
    ann = await live.person()
    base = live.ws_base
    for url in (f"{base}/ws", f"{base}/ws?token=garbage"):
        try:
            async with connect(url) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code in (1008, 4401, 4403)
        except InvalidStatus as refused:
            assert refused.response.status_code in (401, 403)
    login = await live.client.post(
        "/api/auth/login", json={"email": f"{ann.name}.x@example.com", "password": "x"}
    )
    assert login.status_code == 401


async def test_presence_follows_the_last_tab_and_only_contacts_hear_it(live: Api) -> None:
    ann, bob, eve = await live.person(), await live.person(), await live.person()
    await live.dialog(ann, bob)
    bob1 = await live.socket(bob)
    eve1 = await live.socket(eve)
    ann1 = await live.socket(ann)
    assert await receive_type(bob1, "presence") == {"type": "presence", "user_id": ann.id, "online": True}
    ann2 = await live.socket(ann)
    assert (await live.get(bob, f"/api/users/{ann.id}"))["online"] is True
    await ann1.close()
    assert await silent(bob1)
    await ann2.close()
    assert await receive_type(bob1, "presence") == {"type": "presence", "user_id": ann.id, "online": False}
    assert (await live.get(bob, f"/api/users/{ann.id}"))["online"] is False
    assert await silent(eve1)


async def test_membership_changes_apply_to_open_sockets_at_once(live: Api) -> None:
    owner, bob, dan = await live.person(), await live.person(), await live.person()
    group = await live.group(owner, bob)
    bob1, dan1 = await live.socket(bob), await live.socket(dan)
    await asyncio.sleep(0.1)
    await live.post(owner, f"/api/chats/{group['id']}/members", {"members": [dan.id]})
    await live.send(owner, group["id"], "welcome")
    assert (await receive_type(dan1, "new_message"))["message"]["text"] == "welcome"
    removed = await live.client.delete(f"/api/chats/{group['id']}/members/{bob.id}", headers=owner.headers)
    assert removed.status_code == 204
    await receive_type(bob1, "new_message")  # the welcome
    await live.send(owner, group["id"], "secret")
    await send(owner_ws := await live.socket(owner), {"type": "typing_start", "chat_id": group["id"]})
    assert (await receive_type(dan1, "new_message"))["message"]["text"] == "secret"
    assert await silent(bob1, ignore=("presence",))
    await owner_ws.close()


async def test_one_senders_messages_arrive_in_order_on_every_socket(live: Api) -> None:
    ann, bob = await live.person(), await live.person()
    chat = await live.group(ann, bob)
    sender, reader = await live.socket(ann), await live.socket(bob)
    await asyncio.sleep(0.1)
    for i in range(15):
        await send(
            sender, {"type": "send_message", "temp_id": f"o{i}", "chat_id": chat["id"], "text": str(i)}
        )
    texts = [(await receive_type(reader, "new_message"))["message"]["text"] for _ in range(15)]
    assert texts == [str(i) for i in range(15)]


async def test_the_rate_limit_is_shared_by_rest_and_the_socket(live: Api) -> None:
    ann, bob = await live.person(), await live.person()
    chat = await live.dialog(ann, bob)
    ws = await live.socket(ann)
    for i in range(30):
        await live.send(ann, chat["id"], f"rest {i}")
    for i in range(30):
        await send(ws, {"type": "send_message", "temp_id": f"w{i}", "chat_id": chat["id"], "text": f"ws {i}"})
        await receive_type(ws, "message_sent")
    await send(ws, {"type": "send_message", "temp_id": "over", "chat_id": chat["id"], "text": "too many"})
    error = await receive_type(ws, "error")
    assert error["status"] == 429 and error["code"] == "rate_limited" and error["temp_id"] == "over"
    await live.send(ann, chat["id"], "also too many", expect=429)
    # The repeat of a stored temp_id still answers: it is no new message.
    await send(ws, {"type": "send_message", "temp_id": "w0", "chat_id": chat["id"], "text": "ws 0"})
    assert (await receive_type(ws, "message_sent"))["message"]["text"] == "ws 0"
    assert len(await live.get(ann, f"/api/chats/{chat['id']}/messages", limit=100)) == 60


async def test_a_refresh_token_opens_no_socket(live: Api) -> None:
    registered = await live.client.post(
        "/api/auth/register",
        json={"email": "sock@example.com", "username": "sock", "password": "a long enough passphrase 42"},
    )
    refresh = registered.json()["refresh_token"]
    try:
        async with connect(f"{live.ws_base}/ws?token={refresh}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code in (1008, 4401, 4403)
    except InvalidStatus as refused:
        assert refused.response.status_code in (401, 403)
    access = registered.json()["access_token"]
    async with connect(f"{live.ws_base}/ws?token={access}") as ws:
        assert await silent(ws)
