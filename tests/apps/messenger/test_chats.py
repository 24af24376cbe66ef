"""Rules 7-13 and 39: dialogs unique per pair, groups with an owner, membership, privacy."""

from __future__ import annotations

import asyncio

from tests.apps.messenger.conftest import Api


async def test_a_dialog_is_unique_per_pair_from_either_side(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    assert chat["type"] == "dialog" and chat["unread_count"] == 0 and chat["last_message"] is None
    assert sorted(m["user_id"] for m in chat["members"]) == sorted([ann.id, bob.id])
    assert {m["role"] for m in chat["members"]} == {"member"}
    again = await api.chat(bob, type="dialog", members=[ann.id], expect=200)
    assert again["id"] == chat["id"]
    also = await api.chat(ann, type="dialog", members=[ann.id, bob.id], expect=200)
    assert also["id"] == chat["id"]


async def test_concurrent_dialog_creations_make_one_dialog(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    answers = await asyncio.gather(
        *(
            api.client.post("/api/chats", json={"type": "dialog", "members": [b.id]}, headers=a.headers)
            for a, b in [(ann, bob), (bob, ann)] * 3
        )
    )
    assert sorted(r.status_code for r in answers).count(201) == 1
    assert len({r.json()["id"] for r in answers}) == 1


async def test_bad_chat_input_is_422_and_creates_nothing(api: Api) -> None:
    ann, bob, cid = await api.person(), await api.person(), await api.person()
    await api.chat(ann, type="dialog", members=[], expect=422)
    await api.chat(ann, type="dialog", members=[bob.id, cid.id], expect=422)
    await api.chat(ann, type="dialog", members=[999999], expect=422)
    await api.chat(ann, type="group", members=[bob.id, 999999], expect=422)
    await api.chat(ann, type="channel", members=[bob.id], expect=422)
    await api.chat(ann, type="group", title="x" * 256, members=[bob.id], expect=422)
    assert await api.get(ann, "/api/chats") == []
    assert await api.get(bob, "/api/chats") == []


async def test_group_owner_manages_members_and_the_earliest_member_inherits(api: Api) -> None:
    owner, bob, cid, dan = [await api.person() for _ in range(4)]
    group = await api.group(owner, bob, cid, title="Team")
    roles = {m["user_id"]: m["role"] for m in group["members"]}
    assert roles == {owner.id: "owner", bob.id: "member", cid.id: "member"}

    path = f"/api/chats/{group['id']}/members"
    await api.post(bob, path, {"members": [dan.id]}, expect=403)
    added = await api.post(owner, path, {"members": [dan.id]})
    assert dan.id in {m["user_id"] for m in added["members"]}
    assert (await api.client.delete(f"{path}/{dan.id}", headers=bob.headers)).status_code == 403
    assert (await api.client.delete(f"{path}/{dan.id}", headers=owner.headers)).status_code == 204
    await api.get(dan, f"/api/chats/{group['id']}", expect=403)

    await api.post(owner, f"/api/chats/{group['id']}/leave", expect=204)
    after = await api.get(bob, f"/api/chats/{group['id']}")
    roles = {m["user_id"]: m["role"] for m in after["members"]}
    assert owner.id not in roles and list(roles.values()).count("owner") == 1
    assert roles[bob.id] == "owner" or roles[cid.id] == "owner"


async def test_a_dialogs_membership_never_changes(api: Api) -> None:
    ann, bob, cid = [await api.person() for _ in range(3)]
    chat = await api.dialog(ann, bob)
    answer = await api.client.post(
        f"/api/chats/{chat['id']}/members", json={"members": [cid.id]}, headers=ann.headers
    )
    assert answer.status_code == 409 and answer.json()["code"] == "dialog_members_fixed"
    removed = await api.client.delete(f"/api/chats/{chat['id']}/members/{bob.id}", headers=ann.headers)
    assert removed.status_code == 409
    left = await api.client.post(f"/api/chats/{chat['id']}/leave", headers=ann.headers)
    assert left.status_code == 409 and left.json()["code"] == "dialog_members_fixed"


async def test_outsiders_get_403_unknown_404_and_garbage_422_admins_included(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    admin = await api.person(role="admin")
    chat = await api.dialog(ann, bob)
    for path in (f"/api/chats/{chat['id']}", f"/api/chats/{chat['id']}/messages"):
        answer = await api.client.get(path, headers=admin.headers)
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    await api.send(admin, chat["id"], expect=403)
    await api.post(admin, f"/api/chats/{chat['id']}/read", {"message_id": 1}, expect=403)
    missing = await api.client.get("/api/chats/999999", headers=ann.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    await api.get(ann, "/api/chats/abc", expect=422)
    assert (await api.client.get("/api/chats")).status_code == 401


async def test_chats_are_listed_by_last_activity(api: Api) -> None:
    ann, bob, cid = [await api.person() for _ in range(3)]
    first = await api.dialog(ann, bob)
    second = await api.dialog(ann, cid)
    group = await api.group(ann, bob, cid)
    assert [c["id"] for c in await api.get(ann, "/api/chats")] == [group["id"], second["id"], first["id"]]
    await api.send(bob, first["id"], "news")
    listed = await api.get(ann, "/api/chats")
    assert [c["id"] for c in listed] == [first["id"], group["id"], second["id"]]
    assert listed[0]["last_message"]["text"] == "news" and listed[0]["unread_count"] == 1
    assert [c["id"] for c in await api.get(cid, "/api/chats")] == [group["id"], second["id"]]


async def test_mute_is_per_member(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    assert await api.post(ann, f"/api/chats/{chat['id']}/mute", {"muted": True}) == {
        "chat_id": chat["id"],
        "muted": True,
    }
    await api.post(ann, f"/api/chats/{chat['id']}/mute", {"muted": "maybe"}, expect=422)
