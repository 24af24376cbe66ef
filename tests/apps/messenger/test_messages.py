"""Rules 14-19, 33, 41: idempotent send, history both ways, edits, deletion, read markers."""

from __future__ import annotations

import asyncio

from tests.apps.messenger.conftest import Api


async def test_a_message_has_the_contract_shape_and_text_as_sent(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    message = await api.send(ann, chat["id"], "  <b>Tom & Jerry</b>\n ")
    assert set(message) == {
        "id",
        "chat_id",
        "sender_id",
        "text",
        "attachments",
        "created_at",
        "edited_at",
        "deleted_at",
    }
    assert message["text"] == "<b>Tom & Jerry</b>"
    assert message["chat_id"] == chat["id"] and message["sender_id"] == ann.id
    assert message["attachments"] == [] and message["edited_at"] is None and message["deleted_at"] is None


async def test_text_must_be_1_to_4096_characters_after_trimming(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    for text in ("", "   \n", "x" * 4097):
        answer = await api.client.post(
            f"/api/chats/{chat['id']}/messages", json={"text": text}, headers=ann.headers
        )
        assert answer.status_code == 422 and answer.json()["code"] == "validation_error"
    await api.send(ann, chat["id"], "x" * 4096)
    await api.send(ann, chat["id"], "nul\x00byte", expect=422)
    assert len(await api.get(ann, f"/api/chats/{chat['id']}/messages")) == 1


async def test_a_repeated_temp_id_answers_the_first_message_once(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    first = await api.send(ann, chat["id"], "once", temp_id="t-1")
    again = await api.send(ann, chat["id"], "once", temp_id="t-1", expect=200)
    assert again == first
    # temp_id is per sender: bob may use the same one.
    bobs = await api.send(bob, chat["id"], "mine", temp_id="t-1")
    assert bobs["id"] != first["id"]
    # Exact: another case is another temp_id (MariaDB compares strings ignoring case by default).
    await api.send(ann, chat["id"], "other case", temp_id="T-1")
    answers = await asyncio.gather(
        *(api.send(ann, chat["id"], "burst", temp_id="t-2", expect=None) for _ in range(4))
    )
    assert len({a["id"] for a in answers}) == 1
    assert len(await api.get(ann, f"/api/chats/{chat['id']}/messages")) == 4


async def test_history_pages_backwards_and_catches_up_forwards(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    ids = [(await api.send(ann, chat["id"], f"m{i}"))["id"] for i in range(7)]
    path = f"/api/chats/{chat['id']}/messages"
    newest = await api.get(bob, path, limit=3)
    assert [m["id"] for m in newest] == ids[:-4:-1]
    older = await api.get(bob, path, limit=3, before_id=newest[-1]["id"])
    assert [m["id"] for m in older] == ids[3:0:-1]
    missed = await api.get(bob, path, after_id=ids[2], limit=2)
    assert [m["id"] for m in missed] == ids[3:5]
    assert len(await api.get(bob, path)) == 7
    assert await api.get(bob, path, after_id=ids[-1]) == []
    # The membership is part of the page's one statement: a stranger still gets 403, not [].
    carl = await api.person()
    await api.get(carl, path, expect=403)
    await api.get(carl, path, after_id=ids[-1], expect=403)
    await api.get(bob, "/api/chats/999999999/messages", expect=404)
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"before_id": "x"}, {"after_id": -1}):
        await api.get(bob, path, expect=422, **bad)


async def test_edit_keeps_history_and_only_the_sender_edits_or_deletes(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    message = await api.send(ann, chat["id"], "first")
    path = f"/api/chats/{chat['id']}/messages/{message['id']}"
    assert (await api.client.patch(path, json={"text": "hack"}, headers=bob.headers)).status_code == 403
    assert (await api.client.patch(path, json={"text": "  "}, headers=ann.headers)).status_code == 422
    edited = await api.client.patch(path, json={"text": " second "}, headers=ann.headers)
    assert edited.status_code == 200 and edited.json()["text"] == "second" and edited.json()["edited_at"]
    await api.client.patch(path, json={"text": "third"}, headers=ann.headers)
    history = await api.get(bob, f"{path}/history")
    assert [h["text"] for h in history] == ["first", "second"] and all(h["edited_at"] for h in history)

    other = await api.dialog(ann, await api.person())
    elsewhere = f"/api/chats/{other['id']}/messages/{message['id']}"
    assert (await api.client.patch(elsewhere, json={"text": "x"}, headers=ann.headers)).status_code == 404
    assert (await api.client.delete(path, headers=bob.headers)).status_code == 403
    assert (await api.client.delete(path, headers=ann.headers)).status_code == 204
    assert (await api.client.delete(path, headers=ann.headers)).status_code == 404
    await api.get(bob, f"{path}/history", expect=404)  # no earlier text survives a deletion
    assert (await api.client.patch(path, json={"text": "zombie"}, headers=ann.headers)).status_code == 404
    listed = await api.get(bob, f"/api/chats/{chat['id']}/messages")
    assert all(m["text"] == "" and m["deleted_at"] for m in listed if m["id"] == message["id"])


async def test_read_marker_moves_forward_and_unread_counts_agree(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    ids = [(await api.send(ann, chat["id"], f"m{i}"))["id"] for i in range(4)]
    await api.send(bob, chat["id"], "my own")
    assert (await api.get(bob, f"/api/chats/{chat['id']}"))["unread_count"] == 4
    read = await api.post(bob, f"/api/chats/{chat['id']}/read", {"message_id": ids[1]})
    assert read == {"chat_id": chat["id"], "last_read_message_id": ids[1], "unread_count": 2}
    back = await api.post(bob, f"/api/chats/{chat['id']}/read", {"message_id": ids[0]})
    assert back["last_read_message_id"] == ids[1] and back["unread_count"] == 2
    await api.client.delete(f"/api/chats/{chat['id']}/messages/{ids[3]}", headers=ann.headers)
    assert (await api.get(bob, "/api/chats"))[0]["unread_count"] == 1
    other = await api.dialog(bob, await api.person())
    foreign = await api.send(bob, other["id"], "elsewhere")
    await api.post(bob, f"/api/chats/{chat['id']}/read", {"message_id": foreign["id"]}, expect=404)
    await api.post(bob, f"/api/chats/{chat['id']}/read", {"message_id": "x"}, expect=422)
    members = {m["user_id"]: m for m in (await api.get(ann, f"/api/chats/{chat['id']}"))["members"]}
    assert members[bob.id]["last_read_message_id"] == ids[1]


async def test_the_61st_message_within_a_minute_is_refused_and_not_stored(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    for i in range(60):
        await api.send(ann, chat["id"], f"m{i}", temp_id=f"k{i}")
    refused = await api.client.post(
        f"/api/chats/{chat['id']}/messages", json={"text": "one too many"}, headers=ann.headers
    )
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # A repeat is no new message: it answers and costs nothing.
    await api.send(ann, chat["id"], "m0", temp_id="k0", expect=200)
    assert len(await api.get(ann, f"/api/chats/{chat['id']}/messages", limit=100)) == 60
    await api.send(bob, chat["id"], "bob is not limited")
