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


async def test_short_words_and_stopwords_match_whole_on_every_database(api: Api) -> None:
    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    short = await api.send(ann, chat["id"], "Go to the moon, it is ok")
    await api.send(ann, chat["id"], "gopher tool theme")
    digits = await api.send(ann, chat["id"], "room 42 at 9")
    assert [m["id"] for m in await api.get(bob, "/api/search", q="go")] == [short["id"]]
    assert [m["id"] for m in await api.get(bob, "/api/search", q="THE moon")] == [short["id"]]
    assert [m["id"] for m in await api.get(bob, "/api/search", q="it is")] == [short["id"]]
    assert [m["id"] for m in await api.get(bob, "/api/search", q="9 room")] == [digits["id"]]
    assert await api.get(bob, "/api/search", q="moo") == []


async def test_the_search_statement_uses_the_index(api: Api, backend: str, session: AsyncSession) -> None:
    from basis.apps.messenger import search

    ann, bob = await api.person(), await api.person()
    chat = await api.dialog(ann, bob)
    for i in range(30):
        await api.send(ann, chat["id"], f"filler {i}")
    await api.send(ann, chat["id"], "the zebra crossing")
    plan = await search.statement(session, user_id=bob.id, words=["zebra", "crossing"], chat_id=None)
    # The index's own part of the search: whether the whole plan starts from it or from the
    # caller's chats (when they hold few messages) is the planner's choice.
    stmt = plan.messages if backend == "sqlite" else plan.candidates
    assert stmt is not None
    compiled = stmt.limit(50).compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if backend == "postgresql":
        await session.execute(text("SET LOCAL enable_seqscan = off"))  # a few rows: force the choice
        plan_text = "\n".join((await session.execute(text(f"EXPLAIN {compiled}"))).scalars())
        assert "ix_messenger_messages_tsv_words" in plan_text, plan_text
    elif backend == "mariadb":
        rows = [dict(r._mapping) for r in (await session.execute(text(f"EXPLAIN {compiled}"))).all()]
        assert [(r["type"], r["key"]) for r in rows] == [("fulltext", "ix_messenger_messages_ft_text")], rows
    else:
        rows = (await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
        plan_text = " ".join(str(r[-1]) for r in rows)
        assert "messenger_messages_fts VIRTUAL TABLE INDEX" in plan_text, plan_text
    await session.rollback()
    found = await api.get(bob, "/api/search", q="Crossing ZEBRA")
    assert [m["text"] for m in found] == ["the zebra crossing"]
