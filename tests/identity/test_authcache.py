"""The per-process session cache: what it may answer, and when it must ask the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from basis.identity.authcache import VERSION_KEY, AuthCache, Version

ANN = {"id": 1, "role": "operator", "is_active": True}
BOB = {"id": 2, "role": "user", "is_active": True}


async def remember(cache: AuthCache, sid: str, values: dict[str, Any]) -> None:
    found, ticket = await cache.lookup(sid, values["id"])
    assert found is None
    cache.put(ticket, sid, values)


async def test_a_remembered_session_is_answered_until_the_shared_version_moves(tmp_path: Path) -> None:
    version = Version(redis=None, stamp=tmp_path / "stamp")
    cache = AuthCache(version, ttl_seconds=60)
    await remember(cache, "s1", ANN)
    assert (await cache.lookup("s1", 1))[0] == ANN
    # Another process (the command line) changed something: everything is asked again.
    await Version(redis=None, stamp=tmp_path / "stamp").bump()
    assert (await cache.lookup("s1", 1))[0] is None


async def test_a_token_of_another_user_never_gets_the_remembered_row(tmp_path: Path) -> None:
    cache = AuthCache(Version(redis=None, stamp=tmp_path / "stamp"), ttl_seconds=60)
    await remember(cache, "s1", ANN)
    assert (await cache.lookup("s1", 2))[0] is None


async def test_an_answer_read_before_an_invalidation_is_not_stored(tmp_path: Path) -> None:
    cache = AuthCache(Version(redis=None, stamp=tmp_path / "stamp"), ttl_seconds=60)
    await remember(cache, "warm", BOB)  # the version is known
    found, ticket = await cache.lookup("s1", 1)
    assert found is None
    cache.invalidate(users=[1])  # a commit for this user lands while the database is read
    cache.put(ticket, "s1", ANN)
    assert (await cache.lookup("s1", 1))[0] is None


async def test_invalidation_drops_the_named_users_and_sessions_only(tmp_path: Path) -> None:
    cache = AuthCache(Version(redis=None, stamp=tmp_path / "stamp"), ttl_seconds=60)
    await remember(cache, "a1", ANN)
    await remember(cache, "a2", ANN)
    await remember(cache, "b1", BOB)
    cache.invalidate(users=[1])
    assert (await cache.lookup("a1", 1))[0] is None and (await cache.lookup("a2", 1))[0] is None
    assert (await cache.lookup("b1", 2))[0] == BOB
    cache.invalidate(sids=["b1"])
    assert (await cache.lookup("b1", 2))[0] is None


async def test_entries_expire_and_a_zero_lifetime_turns_the_cache_off(tmp_path: Path) -> None:
    now = [1000.0]
    cache = AuthCache(Version(redis=None, stamp=tmp_path / "stamp"), ttl_seconds=60, clock=lambda: now[0])
    await remember(cache, "s1", ANN)
    now[0] += 59
    assert (await cache.lookup("s1", 1))[0] == ANN
    now[0] += 2
    assert (await cache.lookup("s1", 1))[0] is None
    off = AuthCache(Version(redis=None, stamp=tmp_path / "stamp"), ttl_seconds=0)
    await remember(off, "s1", ANN)
    assert (await off.lookup("s1", 1))[0] is None


async def test_with_redis_a_lost_or_unreachable_version_means_ask_the_database(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        cache = AuthCache(Version(redis=client, stamp=None), ttl_seconds=60)
        await Version(redis=client, stamp=None).bump()
        await remember(cache, "s1", ANN)
        assert (await cache.lookup("s1", 1))[0] == ANN
        await client.delete(VERSION_KEY)  # a Redis restart without persistence
        assert (await cache.lookup("s1", 1))[0] is None
        await remember(cache, "s1", ANN)
        assert (await cache.lookup("s1", 1))[0] == ANN
    finally:
        await client.aclose()
    down = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    try:
        cache = AuthCache(Version(redis=down, stamp=None), ttl_seconds=60)
        found, ticket = await cache.lookup("s1", 1)
        assert found is None and ticket is None
        cache.put(ticket, "s1", ANN)
        assert (await cache.lookup("s1", 1))[0] is None
    finally:
        await down.aclose()


@pytest.fixture
def backend() -> str:
    return "sqlite"
