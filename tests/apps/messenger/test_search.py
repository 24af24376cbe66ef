"""Rule 21: search in my chats, whole words, case-insensitive, newest first."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.apps.messenger.conftest import Api


async def test_search_finds_whole_words_in_my_chats_only(api: Api) -> None:
    ann, bob, eve = await api.person(), await api.person(), await api.person()
    ours = await api.dialog(ann, bob)
    theirs = await api.dialog(bob, eve)
    old = await api.send(ann, ours["id"], "Deploy the Rocket tonight")
    new = await api.send(bob, ours["id"], "rocket launched!")
    await api.send(bob, ours["id"], "rockets are not a rocketship")
    await api.send(eve, theirs["id"], "secret rocket plans")
    gone = await api.send(ann, ours["id"], "rocket to delete")
    await api.client.delete(f"/api/chats/{ours['id']}/messages/{gone['id']}", headers=ann.headers)

    found = await api.get(ann, "/api/search", q="ROCKET")
    assert [m["id"] for m in found] == [new["id"], old["id"]]
    assert [m["id"] for m in await api.get(ann, "/api/search", q="rocket deploy")] == [old["id"]]
    assert await api.get(ann, "/api/search", q="rock") == []
    assert len(await api.get(bob, "/api/search", q="rocket")) == 3
    assert [m["id"] for m in await api.get(ann, "/api/search", q="rocket", limit=1)] == [new["id"]]
    assert len(await api.get(bob, "/api/search", q="rocket", chat_id=theirs["id"])) == 1
    await api.get(ann, "/api/search", q="rocket", chat_id=theirs["id"], expect=403)
    await api.get(ann, "/api/search", q="", expect=422)
    await api.get(ann, "/api/search", q="   ", expect=422)
    await api.get(ann, "/api/search", q="rocket", limit=0, expect=422)
    assert await api.get(ann, "/api/search", q="%_") == []


async def test_search_matches_the_current_text_and_forgets_a_chat_i_left(api: Api) -> None:
    owner, ann = await api.person(), await api.person()
    group = await api.group(owner, ann)
    message = await api.send(owner, group["id"], "alpha")
    path = f"/api/chats/{group['id']}/messages/{message['id']}"
    await api.client.patch(path, json={"text": "omega"}, headers=owner.headers)
    assert await api.get(ann, "/api/search", q="alpha") == []
    assert len(await api.get(ann, "/api/search", q="omega")) == 1
    await api.post(ann, f"/api/chats/{group['id']}/leave", expect=204)
    assert await api.get(ann, "/api/search", q="omega") == []


async def test_on_sqlite_the_words_come_from_the_fts5_index(
    api: Api, backend: str, session: AsyncSession
) -> None:
    if backend != "sqlite":
        return
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    message = await api.send(ann, chat["id"], "Zebra crossing")
    query = text("SELECT rowid FROM messenger_messages_fts WHERE messenger_messages_fts MATCH 'zebra'")
    assert list((await session.execute(query)).scalars()) == [message["id"]]
    await session.rollback()  # SQLite: a reader holds the one write lock until it ends
    await api.client.patch(
        f"/api/chats/{chat['id']}/messages/{message['id']}", json={"text": "Horse"}, headers=ann.headers
    )
    assert list((await session.execute(query)).scalars()) == []
    await session.rollback()
    assert [m["id"] for m in await api.get(bob, "/api/search", q="horse")] == [message["id"]]
