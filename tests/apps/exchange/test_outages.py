"""Through outages (issue 13): a listing, a chat message and a confirm are acknowledged only
once they are durable. While the database is away each answers 503 ``unavailable`` with
Retry-After (never 500) and stores nothing; the retried confirm completes the exchange exactly
once. While Redis is away each is stored and acknowledged: the re-matching a listing needs waits
in the outbox, and only the live push of a message is lost (history has it)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange.models import ExchangeEvent, ListingItem, Message
from basis.core import outage, outbox
from basis.core.models import JobOutbox
from basis.settings import Settings
from tests.apps.exchange.conftest import ALMATY, Exchange, item
from tests.apps.exchange.test_exchanges import proposed_pair
from tests.fixtures.auth import MakeUser
from tests.support.proxy import CuttableProxy

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.status_code, response.text)
    assert response.json()["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def _count(session: AsyncSession, model: Any, *where: Any) -> int:
    found = await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    await session.rollback()  # on SQLite an open transaction would hold the write lock
    return found


async def _active(ex: Exchange) -> tuple[Any, Any, str]:
    alice, bob, p = await proposed_pair(ex)
    for who in (alice, bob):
        await ex.act(who, p["id"], "accept")
    return alice, bob, p["id"]


async def test_while_the_database_is_away_nothing_is_acknowledged_and_a_retried_confirm_completes_once(
    backend: str,
    database_proxy: tuple[CuttableProxy, str],
    make_client: ClientFactory,
    make_user: MakeUser,
    session: AsyncSession,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend != "postgresql":
        pytest.skip("the outage path is the same on every server database: checked on PostgreSQL")
    proxy, url = database_proxy
    monkeypatch.setattr(outage, "OUTAGES", outage.OutageLog())  # no quiet period from another test
    async with make_client(database_url=url) as client:
        ex = Exchange(client, make_user, session, settings)
        alice, bob, eid = await _active(ex)
        assert (await ex.act(alice, eid, "confirm"))["exchange_status"] == "active"
        chat = f"/api/chat/exchange/{eid}/messages"
        assert (await client.post(chat, json={"text": "before"}, headers=bob.headers)).status_code == 201
        listing = {"offers": {"property": [item("bike", 50_000)]}}

        proxy.cut()
        for _ in range(2):
            _unavailable(await client.post(f"/api/exchanges/{eid}/confirm", headers=bob.headers))
            _unavailable(await client.post(chat, json={"text": "during"}, headers=bob.headers))
            _unavailable(
                await client.post("/api/listings/create-by-categories", json=listing, headers=bob.headers)
            )
        proxy.restore()

        # Nothing of what was refused was stored.
        assert await _count(session, Message, Message.exchange_id == eid) == 1
        assert await _count(session, ListingItem, ListingItem.item_name == "bike") == 0
        # The client's retries now succeed, each once.
        done = await ex.act(bob, eid, "confirm")
        assert done["exchange_status"] == "completed" and len(done["items_archived"]) == 4
        again = await ex.act(
            bob, eid, "confirm"
        )  # a second retry is the same answer, not a second completion
        assert again["exchange_status"] == "completed"
        events = [
            e
            for (e,) in await session.execute(
                select(ExchangeEvent.event_type).where(ExchangeEvent.exchange_id == eid)
            )
        ]
        assert events.count("completed") == 1 and events.count("confirmed") == 2
        assert (await client.post(chat, json={"text": "after"}, headers=bob.headers)).status_code == 201
        r = await client.post("/api/listings/create-by-categories", json=listing, headers=bob.headers)
        assert r.status_code == 201, r.text
        history = (await client.get(f"/api/chat/exchange/{eid}/history", headers=alice.headers)).json()
        assert [m["message_text"] for m in history["messages"]] == ["before", "after"]
        assert await _count(session, ListingItem, ListingItem.item_name == "bike") == 1


async def test_while_redis_is_away_listings_messages_and_confirms_are_stored_and_acknowledged(
    redis_proxy: tuple[CuttableProxy, str],
    make_client: ClientFactory,
    make_user: MakeUser,
    session: AsyncSession,
    settings: Settings,
) -> None:
    proxy, url = redis_proxy
    async with make_client(redis_url=url, exchange_rematch_in_background=False) as client:
        ex = Exchange(client, make_user, session, settings)
        alice, bob, eid = await _active(ex)
    async with make_client(redis_url=url) as client:  # re-matching in `basis worker`, as deployed
        ex = Exchange(client, make_user, session, settings)
        await session.execute(JobOutbox.__table__.delete())
        await session.commit()
        chat = f"/api/chat/exchange/{eid}/messages"
        carol = await ex.member(ALMATY)

        proxy.cut()
        sent = await client.post(chat, json={"text": "still here"}, headers=alice.headers)
        assert sent.status_code == 201, sent.text
        r = await client.post(
            "/api/listings/create-by-categories",
            json={"offers": {"property": [item("lamp", 20_000)]}},
            headers=carol.headers,
        )
        assert r.status_code == 201, r.text
        # The re-matching it needs is not lost: it waits in the outbox for Redis.
        assert await _count(session, JobOutbox) == 1
        await ex.act(alice, eid, "confirm")
        assert (await ex.act(bob, eid, "confirm"))["exchange_status"] == "completed"
        proxy.restore()

        assert await _count(session, Message, Message.exchange_id == eid) == 1
        history = (await client.get(f"/api/chat/exchange/{eid}/history", headers=bob.headers)).json()
        assert [m["message_text"] for m in history["messages"]] == ["still here"]
        assert await outbox.sweep(client.app.state.infra.jobs, grace=0) == 1  # type: ignore[attr-defined]
        assert await _count(session, JobOutbox) == 0
