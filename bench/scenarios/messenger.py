"""Messenger: sends on one chat from 64 senders, and a history page deep in a chat of
1,000,000 messages. The send-to-last-socket latency over two processes has its own driver
(``bench/messenger_fanout.py``): it needs two servers and Redis, which this harness does not run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from bench.scenarios import BenchContext, Scenario, Timed

APPS: list[str] = ["messenger"]
SENDERS = 64
HISTORY_MESSAGES = 1_000_000

_SEND_LUA = """
local stamp = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
function request()
  local n = bench_next()
  local token = TOKENS[(n % #TOKENS) + 1]
  local body = string.format('{"text": "bench message %d", "temp_id": "b%s-%d"}', n, stamp, n)
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  return wrk.format("POST", bench.path, headers, body)
end
"""


async def _people(ctx: BenchContext, count: int) -> list[dict[str, Any]]:
    if len(ctx.state.get("messenger_people", [])) < count:
        # One after another: 64 password hashes at once would starve the server's pool.
        ctx.state["messenger_people"] = [await ctx.register() for _ in range(count)]
    return list(ctx.state["messenger_people"][:count])


async def _group(ctx: BenchContext, owner: dict[str, Any], members: list[dict[str, Any]], title: str) -> int:
    response = await ctx.client.post(
        "/api/chats",
        json={"type": "group", "title": title, "members": [m["user"]["id"] for m in members]},
        headers=owner["headers"],
    )
    response.raise_for_status()
    return int(response.json()["id"])


async def _senders(ctx: BenchContext) -> dict[str, Any]:
    people = await _people(ctx, SENDERS)
    chat_id = await _group(ctx, people[0], people[1:], "bench: 64 senders")
    return {
        "path": f"/api/chats/{chat_id}/messages",
        "lua_vars": {"TOKENS": [p["access_token"] for p in people]},
    }


# One statement on the server, not a million round trips: a bulk insert of numbered rows.
_SEED = {
    "postgresql": (
        "INSERT INTO messenger_messages (chat_id, sender_id, text, created_at) "
        "SELECT :chat, :sender, 'history message ' || g, now() - (:count - g) * interval '1 second' "
        "FROM generate_series(1, :count) AS g"
    ),
    "mariadb": (
        "INSERT INTO messenger_messages (chat_id, sender_id, text, created_at) "
        "SELECT :chat, :sender, CONCAT('history message ', seq), "
        "UTC_TIMESTAMP(6) - INTERVAL (:count - seq) SECOND FROM seq_1_to_1000000"
    ),
    "sqlite": (
        "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :count) "
        "INSERT INTO messenger_messages (chat_id, sender_id, text, created_at) "
        "SELECT :chat, :sender, 'history message ' || x, "
        "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (:count - x) || ' seconds') FROM g"
    ),
}


async def _history(ctx: BenchContext) -> dict[str, Any]:
    if "messenger_history" not in ctx.state:
        ctx.state["messenger_history"] = await _seed_history(ctx)
    return dict(ctx.state["messenger_history"])


async def _seed_history(ctx: BenchContext) -> dict[str, Any]:
    owner, reader = await _people(ctx, 2)
    chat_id = await _group(ctx, owner, [reader], "bench: a million messages")
    async with ctx.session() as session:
        params = {"chat": chat_id, "sender": owner["user"]["id"], "count": HISTORY_MESSAGES}
        await session.execute(text(_SEED[ctx.backend]), params)
        await session.commit()
        low, high = (
            await session.execute(
                text("SELECT min(id), max(id) FROM messenger_messages WHERE chat_id = :chat"),
                {"chat": chat_id},
            )
        ).one()
    await ctx.analyze("messenger_messages")
    middle = (int(low) + int(high)) // 2
    return {
        "path": f"/api/chats/{chat_id}/messages?limit=50&before_id={middle}",
        "newest": f"/api/chats/{chat_id}/messages?limit=50",
        "headers": reader["headers"],
    }


async def _page(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await ctx.client.get(data["path"], headers=data["headers"])
    response.raise_for_status()
    assert len(response.json()) == 50


async def _newest_page(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await ctx.client.get(data["newest"], headers=data["headers"])
    response.raise_for_status()
    assert len(response.json()) == 50


SCENARIOS: list[Scenario | Timed] = [
    Scenario(
        "POST /api/chats/{id}/messages, 64 senders, one chat",
        method="POST",
        setup=_senders,
        lua=_SEND_LUA,
        expect=201,
        note="each request a new temp_id of one of 64 members: claim, roster, insert, mail staging, fan-out",
    ),
    Scenario(
        "GET /api/chats/{id}/messages?limit=50&before_id=, chat of 1,000,000",
        setup=_history,
        note="a keyset page from the middle of the history (index on chat_id, id)",
    ),
    Timed(
        "one history page of 50, chat of 1,000,000",
        call=_page,
        setup=_history,
        repeat=50,
        warmup=3,
        note="median of single calls, from the middle; aim < 10 ms",
    ),
    Timed(
        "the newest history page of 50, chat of 1,000,000",
        call=_newest_page,
        setup=_history,
        repeat=50,
        warmup=3,
        note="median of single calls, no before_id (opening a chat); aim < 10 ms",
    ),
]
