"""The key-value store: TTLs, set-if-absent, atomic pop and counters, in memory and in Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from basis.core.kv import KeyValue, MemoryKV, RedisKV, build_kv


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    if request.param == "memory":
        store = build_kv(None)
        assert isinstance(store, MemoryKV)
        yield store
        await store.close()
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    store = build_kv(client)
    assert isinstance(store, RedisKV)
    yield store
    await store.close()
    await client.aclose()


async def test_set_get_delete(kv: KeyValue) -> None:
    assert await kv.get("missing") is None
    assert await kv.set("k", "value ü", ttl_seconds=60)
    assert await kv.get("k") == "value ü"
    assert await kv.set("k", "second", ttl_seconds=60)
    assert await kv.get("k") == "second"
    await kv.delete("k")
    await kv.delete("k")
    assert await kv.get("k") is None


async def test_nx_only_sets_an_absent_key(kv: KeyValue) -> None:
    assert await kv.set("challenge", "first", ttl_seconds=60, nx=True)
    assert not await kv.set("challenge", "second", ttl_seconds=60, nx=True)
    assert await kv.get("challenge") == "first"


async def test_values_expire(kv: KeyValue) -> None:
    await kv.set("short", "v", ttl_seconds=1)
    await kv.set("long", "v", ttl_seconds=60)
    first = await kv.incr("counter", ttl_seconds=1)
    await asyncio.sleep(0.5)
    # Incrementing does not extend the counter's life: it ends a second after it started.
    second = await kv.incr("counter", ttl_seconds=1)
    await asyncio.sleep(0.7)
    assert (first, second) == (1, 2)
    assert await kv.get("short") is None
    assert await kv.get("long") == "v"
    assert await kv.set("short", "again", ttl_seconds=60, nx=True)  # an expired key is absent
    assert await kv.incr("counter", ttl_seconds=1) == 1


async def test_pop_hands_the_value_to_exactly_one_caller(kv: KeyValue) -> None:
    await kv.set("once", "token", ttl_seconds=60)
    results = await asyncio.gather(*(kv.pop("once") for _ in range(10)))
    assert results.count("token") == 1
    assert results.count(None) == 9
    assert await kv.get("once") is None


async def test_concurrent_increments_are_all_counted(kv: KeyValue) -> None:
    values = await asyncio.gather(*(kv.incr("hits", ttl_seconds=60) for _ in range(50)))
    assert sorted(values) == list(range(1, 51))


async def test_a_ttl_below_one_second_is_refused(kv: KeyValue) -> None:
    with pytest.raises(ValueError):
        await kv.set("k", "v", ttl_seconds=0)
    with pytest.raises(ValueError):
        await kv.incr("k", ttl_seconds=0)


async def test_two_processes_share_redis_values(redis_url: str) -> None:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        a, b = RedisKV(first), RedisKV(second)
        await a.set("revoked:42", "1", ttl_seconds=60)
        assert await b.get("revoked:42") == "1"
        assert await b.pop("revoked:42") == "1"
        assert await a.pop("revoked:42") is None
    finally:
        await first.aclose()
        await second.aclose()
