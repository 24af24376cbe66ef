"""The realtime hub: topics, fan-out, slow subscribers, and Redis across processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from basis.core.errors import ServiceUnavailable
from basis.core.realtime import Hub, MemoryHub, RedisHub, SubscriptionClosed, build_hub, channel_prefix

MakeHub = Callable[..., Hub]


@pytest.fixture(params=["memory", "redis"])
async def make_hub(request: pytest.FixtureRequest) -> AsyncIterator[MakeHub]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    hubs: list[Hub] = []

    def make(**options: Any) -> Hub:
        hub = RedisHub(redis_url, **options) if redis_url else MemoryHub(**options)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.close()


@pytest.fixture
async def hub(make_hub: MakeHub) -> Hub:
    hub = make_hub()
    await hub.start()
    return hub


@pytest.fixture
async def redis_hubs(redis_url: str) -> AsyncIterator[tuple[RedisHub, RedisHub]]:
    """Two hubs as two server processes would have them."""
    first, second = RedisHub(redis_url), RedisHub(redis_url)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


async def test_subscribers_get_their_topics_only(hub: Hub) -> None:
    async with hub.subscribe("chat:1") as one, hub.subscribe("chat:1", "chat:2") as both:
        await hub.publish("chat:2", {"n": 1})
        await hub.publish("chat:1", {"n": 2, "text": "zażółć"})
        await hub.publish("chat:3", {"n": 3})
        assert await one.get(timeout=2) == {"n": 2, "text": "zażółć"}
        assert await both.get_item(timeout=2) == ("chat:2", {"n": 1})
        assert await both.get_item(timeout=2) == ("chat:1", {"n": 2, "text": "zażółć"})
        with pytest.raises(TimeoutError):
            await both.get(timeout=0.2)


async def test_each_subscriber_gets_its_own_copy(hub: Hub) -> None:
    async with hub.subscribe("t") as first, hub.subscribe("t") as second:
        await hub.publish("t", {"items": [1]})
        mine = await first.get(timeout=2)
        mine["items"].append(2)
        assert await second.get(timeout=2) == {"items": [1]}


async def test_messages_keep_their_order(hub: Hub) -> None:
    async with hub.subscribe("seq") as sub:
        for n in range(50):
            await hub.publish("seq", {"n": n})
        assert [(await sub.get(timeout=2))["n"] for _ in range(50)] == list(range(50))


async def test_a_burst_of_fan_outs_reaches_every_topic(hub: Hub) -> None:
    """A chat's message goes to each member's topic: 40 such fan-outs at once, each to 150
    topics, lose nothing (through Redis: one pipeline each, and a burst larger than the
    publishing pool waits for a connection instead of failing)."""
    topics = [f"member:{n}" for n in range(150)]
    async with hub.subscribe(*topics[::15]) as some:
        await asyncio.gather(*(hub.publish_many(topics, {"message": m}) for m in range(40)))
        got = [await some.get_item(timeout=5) for _ in range(40 * 10)]
    assert sorted(m["message"] for t, m in got if t == "member:0") == list(range(40))
    assert {t for t, _ in got} == set(topics[::15])
    # And 300 single publishes at once (three times redis-py's default pool) all go out.
    async with hub.subscribe("member:7") as seventh:
        await asyncio.gather(*(hub.publish(f"member:{n % 150}", {"n": n}) for n in range(300)))
        assert sorted([(await seventh.get(timeout=5))["n"] for _ in range(2)]) == [7, 157]


async def test_leaving_a_subscription_stops_delivery(hub: Hub) -> None:
    async with hub.subscribe("room") as staying:
        async with hub.subscribe("room") as leaving:
            await hub.publish("room", {"n": 1})
            assert await leaving.get(timeout=2) == {"n": 1}
        await hub.publish("room", {"n": 2})
        assert await staying.get(timeout=2) == {"n": 1}
        assert await staying.get(timeout=2) == {"n": 2}
    with pytest.raises(SubscriptionClosed):
        await leaving.get(timeout=0.2)


async def test_subscribers_coming_and_going_at_once_never_lose_a_topic(hub: Hub) -> None:
    async def visit(delay: int) -> None:
        for _ in range(delay):
            await asyncio.sleep(0)
        async with hub.subscribe("lobby"):
            await asyncio.sleep(0)

    async def stay(ready: asyncio.Event) -> dict[str, Any]:
        for _ in range(3):
            await asyncio.sleep(0)
        async with hub.subscribe("lobby") as sub:
            ready.set()
            return await sub.get(timeout=3)

    ready = asyncio.Event()
    staying = asyncio.create_task(stay(ready))
    await asyncio.gather(*(visit(n % 6) for n in range(30)))
    await ready.wait()
    await hub.publish("lobby", {"hello": "stayer"})
    assert await staying == {"hello": "stayer"}


async def test_topics_can_be_added_and_removed_on_a_live_subscription(hub: Hub) -> None:
    async with hub.subscribe("user:1") as sub:
        await sub.add("chat:9")
        assert sub.topics == {"user:1", "chat:9"}
        await hub.publish("chat:9", {"joined": True})
        assert await sub.get(timeout=2) == {"joined": True}
        await sub.remove("chat:9")
        await hub.publish("chat:9", {"joined": False})
        await hub.publish("user:1", {"still": True})
        assert await sub.get(timeout=2) == {"still": True}


async def test_a_slow_subscriber_loses_its_oldest_messages_and_blocks_nobody(make_hub: MakeHub) -> None:
    hub = make_hub(queue_size=5)
    await hub.start()
    async with hub.subscribe("busy") as slow, hub.subscribe("busy") as fast:

        async def read_all() -> list[int]:
            return [(await fast.get(timeout=5))["n"] for _ in range(20)]

        reader = asyncio.create_task(read_all())
        for n in range(20):
            async with asyncio.timeout(1):
                await hub.publish("busy", {"n": n})
            await asyncio.sleep(0)
        assert await reader == list(range(20))
        assert slow.dropped == 15
        assert [(await slow.get(timeout=1))["n"] for _ in range(5)] == [15, 16, 17, 18, 19]


async def test_closing_the_hub_ends_every_subscription(make_hub: MakeHub) -> None:
    hub = make_hub()
    await hub.start()
    received: list[dict[str, Any]] = []

    async def consume() -> None:
        async with hub.subscribe("t") as sub:
            async for message in sub:
                received.append(message)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await hub.publish("t", {"n": 1})
    await asyncio.sleep(0.2)
    await hub.close()
    async with asyncio.timeout(2):
        await task
    assert received == [{"n": 1}]


async def test_bad_messages_and_topics_are_refused(hub: Hub) -> None:
    with pytest.raises(TypeError):
        await hub.publish("t", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await hub.publish("t", {"when": object()})
    with pytest.raises(ValueError):
        await hub.publish("", {"n": 1})
    with pytest.raises(ValueError):
        async with hub.subscribe("x" * 201):
            pass


async def test_a_topic_is_heard_while_someone_may_listen(make_hub: MakeHub) -> None:
    """Publishers may skip building a message nobody can get: in one process that is a topic
    without subscribers; through Redis another process may always listen."""
    hub = make_hub()
    await hub.start()
    redis = isinstance(hub, RedisHub)
    assert hub.heard("chat:1") is redis
    async with hub.subscribe("chat:1"):
        assert hub.heard("chat:1") and hub.heard("chat:2") is redis
    assert hub.heard("chat:1") is redis


def test_build_hub_picks_the_backend() -> None:
    assert isinstance(build_hub(None), MemoryHub)
    assert isinstance(build_hub("redis://127.0.0.1:6379/15"), RedisHub)


async def test_redis_delivers_across_hubs(redis_hubs: tuple[RedisHub, RedisHub]) -> None:
    first, second = redis_hubs
    async with first.subscribe("chat:5") as on_first, second.subscribe("chat:5") as on_second:
        await second.publish("chat:5", {"from": "second"})
        await first.publish("chat:5", {"from": "first"})
        assert [await on_first.get(timeout=2) for _ in range(2)] == [{"from": "second"}, {"from": "first"}]
        assert [await on_second.get(timeout=2) for _ in range(2)] == [{"from": "second"}, {"from": "first"}]


async def test_redis_hubs_on_two_databases_of_one_server_do_not_hear_each_other(
    redis_url: str, redis_hubs: tuple[RedisHub, RedisHub]
) -> None:
    """Pub/sub ignores the database number; two deployments sharing a server must not."""
    mine, _ = redis_hubs
    number = int(redis_url.rsplit("/", 1)[1])
    neighbour = RedisHub(redis_url.rsplit("/", 1)[0] + f"/{number - 1 if number else 1}")
    await neighbour.start()
    try:
        async with mine.subscribe("chat:9") as here, neighbour.subscribe("chat:9") as there:
            await neighbour.publish("chat:9", {"from": "neighbour"})
            await mine.publish("chat:9", {"from": "mine"})
            assert await here.get(timeout=2) == {"from": "mine"}
            assert await there.get(timeout=2) == {"from": "neighbour"}
            with pytest.raises(TimeoutError):
                await here.get(timeout=0.3)
    finally:
        await neighbour.close()


async def test_redis_hub_uses_one_connection_and_unsubscribes_unused_topics(
    redis_url: str, redis_hubs: tuple[RedisHub, RedisHub]
) -> None:
    first, _ = redis_hubs
    admin = Redis.from_url(redis_url)
    try:
        async with first.subscribe("a") as one, first.subscribe("b", "c"), first.subscribe("a"):
            clients = [c for c in await admin.client_list(_type="pubsub") if c["name"] == first.client_name]
            assert len(clients) == 1
            await one.add("d")
            numsub = dict(await admin.pubsub_numsub(*(channel_prefix(redis_url) + t for t in "abcd")))
            assert list(numsub.values()) == [1, 1, 1, 1]
        # Redis is told once the last local subscriber of a topic leaves.
        async with asyncio.timeout(2):
            while any(
                n for _, n in await admin.pubsub_numsub(*(channel_prefix(redis_url) + t for t in "abcd"))
            ):
                await asyncio.sleep(0.02)
    finally:
        await admin.aclose()


async def test_redis_hub_reconnects_and_resubscribes(
    redis_url: str, redis_hubs: tuple[RedisHub, RedisHub]
) -> None:
    first, second = redis_hubs
    admin = Redis.from_url(redis_url)
    try:
        async with first.subscribe("after-outage") as sub:
            [conn] = [c for c in await admin.client_list(_type="pubsub") if c["name"] == first.client_name]
            await admin.client_kill_filter(_id=conn["id"])
            # Messages sent while the connection is down are lost (pub/sub), so keep sending.
            async with asyncio.timeout(10):
                while True:
                    await second.publish("after-outage", {"ok": True})
                    try:
                        assert await sub.get(timeout=0.2) == {"ok": True}
                        break
                    except TimeoutError:
                        continue
    finally:
        await admin.aclose()


async def test_unreachable_redis_is_a_clear_503() -> None:
    hub = RedisHub("redis://127.0.0.1:1/0", confirm_timeout=0.5)
    await hub.start()
    try:
        with pytest.raises(ServiceUnavailable):
            await hub.publish("t", {"n": 1})
        with pytest.raises(ServiceUnavailable):
            async with hub.subscribe("t"):
                pass
    finally:
        await hub.close()
