"""Publish/subscribe by topic for WebSocket and SSE endpoints, in one process or across many.

``await hub.publish("chat:7", {...})``; ``async with hub.subscribe("chat:7") as sub: async for
message in sub: ...``. Messages are JSON objects. With Redis every process keeps ONE pub/sub
connection for all its subscribers and fans messages out to local queues; a subscriber that
does not keep up loses its oldest messages instead of slowing the publisher. Sockets and event
streams are served by ``basis.core.realtime.sockets``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import RedisError

from basis.core import outage
from basis.core.errors import ServiceUnavailable
from basis.core.logging import get_logger

log = get_logger("basis.realtime")

CHANNEL_PREFIX = "basis:hub:"
"""Followed by the Redis database number: see ``channel_prefix``."""
QUEUE_SIZE = 1000
"""Messages a subscriber may fall behind by before its oldest are dropped."""
MAX_TOPIC_LENGTH = 200
PUBLISH_CONNECTIONS = 32
"""Publishing connections per process at most; more publishes at once wait for one (5 s)."""
_CLOSED = object()


class Hub(Protocol):
    async def publish(self, topic: str, message: dict[str, Any]) -> None: ...

    async def publish_many(self, topics: list[str], message: dict[str, Any]) -> None:
        """One message to many topics (a chat's members): encoded once, and through Redis sent
        in one round trip on one connection, however many topics."""
        ...

    def heard(self, topic: str) -> bool:
        """False when a message on ``topic`` could reach nobody, so a publisher can skip
        building it: in one process, no subscriber; through Redis, always True (another
        process may listen)."""
        ...

    def subscribe(self, *topics: str) -> AbstractAsyncContextManager[Subscription]: ...

    @property
    def epoch(self) -> int:
        """Changes whenever messages may have been missed (the Redis connection was rebuilt):
        a cache kept valid by messages must be dropped when this changes."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class SubscriptionClosed(Exception):
    """The subscription ended (it was left, or the hub is shutting down)."""


class Subscription:
    """One consumer's queue. Iterating yields message dicts until the hub closes."""

    def __init__(self, hub: _LocalHub, maxsize: int) -> None:
        self._hub = hub
        self._topics: set[str] = set()
        self._queue: asyncio.Queue[tuple[str, str] | object] = asyncio.Queue(maxsize)
        self._closed = False
        self.dropped = 0

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    async def add(self, *topics: str) -> None:
        """Start receiving more topics (a socket joining another chat)."""
        await self._hub._attach(self, [t for t in _checked(topics) if t not in self._topics])

    async def remove(self, *topics: str) -> None:
        await self._hub._detach(self, [t for t in topics if t in self._topics])

    async def get_item(self, timeout: float | None = None) -> tuple[str, dict[str, Any]]:  # noqa: ASYNC109
        """The next ``(topic, message)``: TimeoutError after ``timeout`` s, SubscriptionClosed once closed."""
        if self._closed and self._queue.empty():
            raise SubscriptionClosed
        async with asyncio.timeout(timeout):
            item = await self._queue.get()
        if item is _CLOSED:
            raise SubscriptionClosed
        topic, raw = item  # type: ignore[misc]
        return topic, json.loads(raw)

    async def get(self, timeout: float | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        return (await self.get_item(timeout))[1]

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def _deliver(self, topic: str, raw: str) -> None:
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "realtime subscriber too slow, dropping oldest messages",
                    topics=sorted(self._topics)[:5],
                    dropped=self.dropped,
                )
        self._queue.put_nowait((topic, raw))

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)


def _checked(topics: tuple[str, ...] | list[str]) -> list[str]:
    for topic in topics:
        if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
            raise ValueError(f"a topic is a non-empty string of at most {MAX_TOPIC_LENGTH} characters")
    return list(dict.fromkeys(topics))


def _encode(message: dict[str, Any]) -> str:
    if not isinstance(message, dict):
        raise TypeError("a realtime message is a dict (a JSON object)")
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


class _LocalHub:
    """The in-process fan-out both hubs share: topic -> local subscriptions."""

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}
        self._live: set[Subscription] = set()
        self._closing = False

    @asynccontextmanager
    async def _subscription(self, topics: tuple[str, ...]) -> AsyncIterator[Subscription]:
        if self._closing:
            raise ServiceUnavailable("The realtime hub is shutting down", code="realtime_unavailable")
        sub = Subscription(self, self._queue_size)
        self._live.add(sub)
        try:
            await self._attach(sub, _checked(topics))
            yield sub
        finally:
            self._live.discard(sub)
            sub._close()
            await self._detach(sub, list(sub._topics))

    def subscribe(self, *topics: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscription(topics)

    async def _attach(self, sub: Subscription, topics: list[str]) -> None:
        fresh = [t for t in topics if not self._subscribers.get(t)]
        for topic in topics:
            self._subscribers.setdefault(topic, set()).add(sub)
            sub._topics.add(topic)
        try:
            await self._listen(fresh, topics)
        except BaseException:
            await self._detach(sub, topics)
            raise

    async def _detach(self, sub: Subscription, topics: list[str]) -> None:
        emptied = []
        for topic in topics:
            sub._topics.discard(topic)
            members = self._subscribers.get(topic)
            if members is None:
                continue
            members.discard(sub)
            if not members:
                del self._subscribers[topic]
                emptied.append(topic)
        if emptied:
            await self._unlisten(emptied)

    def _dispatch(self, topic: str, raw: str) -> None:
        for sub in tuple(self._subscribers.get(topic, ())):
            sub._deliver(topic, raw)

    async def _listen(self, fresh: list[str], joined: list[str]) -> None:
        """Hook: ``fresh`` topics just got their first local subscriber; wait until ``joined`` flow."""

    async def _unlisten(self, topics: list[str]) -> None:
        """Hook: the topics that just lost their last local subscriber."""

    def _close_subscriptions(self) -> None:
        self._closing = True
        for sub in tuple(self._live):
            sub._close()


class MemoryHub(_LocalHub):
    """One process: publish hands the message straight to the local queues."""

    epoch = 0

    def heard(self, topic: str) -> bool:
        return bool(self._subscribers.get(topic))

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        _checked([topic])
        self._dispatch(topic, _encode(message))

    async def publish_many(self, topics: list[str], message: dict[str, Any]) -> None:
        _checked(topics)
        raw = _encode(message)
        for topic in topics:
            self._dispatch(topic, raw)

    async def start(self) -> None:
        self._closing = False

    async def close(self) -> None:
        self._close_subscriptions()


def channel_prefix(redis_url: str) -> str:
    """Pub/sub channels are one namespace for a whole Redis server, whatever the database
    number: two deployments (or test runs) sharing a server on different numbers would hear
    each other's messages, so the number is part of every channel name."""
    return f"{CHANNEL_PREFIX}{parse_url(redis_url).get('db', 0)}:"


class RedisHub(_LocalHub):
    """Redis pub/sub shared by every process; one subscriber connection per process."""

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str | None = None,
        queue_size: int = QUEUE_SIZE,
        confirm_timeout: float = 5.0,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self._prefix = prefix if prefix is not None else channel_prefix(redis_url)
        self._confirm_timeout = confirm_timeout
        self._max_backoff = max_backoff
        # A bounded pool that makes a burst wait for a free connection: redis-py's default pool
        # refuses the 101st concurrent publish ("Too many connections"), which lost messages and
        # closed sockets whose presence went out to more than 100 contacts at once.
        self._publisher = Redis.from_pool(
            BlockingConnectionPool.from_url(redis_url, max_connections=PUBLISH_CONNECTIONS, timeout=5)
        )
        # No retries inside redis-py: the reader rebuilds the connection itself, with backoff,
        # and re-subscribes every wanted channel, so there is one recovery path.
        self._listener = Redis.from_url(
            redis_url,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
            client_name=f"basis-hub-{uuid.uuid4().hex[:12]}",
        )
        self._pubsub: PubSub | None = None
        self._broken = False
        self._wanted: set[str] = set()
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def client_name(self) -> str:
        """How this hub's subscriber connection is named in ``CLIENT LIST``."""
        return str(self._listener.get_connection_kwargs()["client_name"])

    def heard(self, topic: str) -> bool:
        return True

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        await self.publish_many([topic], message)

    async def publish_many(self, topics: list[str], message: dict[str, Any]) -> None:
        _checked(topics)
        raw = _encode(message)
        try:
            if len(topics) == 1:
                await self._publisher.publish(self._prefix + topics[0], raw)
            else:
                async with self._publisher.pipeline(transaction=False) as pipe:
                    for topic in topics:
                        pipe.publish(self._prefix + topic, raw)
                    await pipe.execute()
        except (RedisError, OSError) as exc:
            # One line per outage, not one per message (core.outage); counted in metrics.
            outage.OUTAGES.failed(exc, "realtime publish")
            raise ServiceUnavailable("The realtime hub is unavailable", code="realtime_unavailable") from exc

    async def start(self) -> None:
        self._closing = False
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="basis-hub-reader")

    async def close(self) -> None:
        self._close_subscriptions()
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop_connection()
        for futures in self._confirmations.values():
            for future in futures:
                future.cancel()
        self._confirmations.clear()
        await self._listener.aclose()
        await self._publisher.aclose()

    async def _listen(self, fresh: list[str], joined: list[str]) -> None:
        if self._reader is None or self._reader.done():
            await self.start()
        channels = [self._prefix + t for t in fresh]
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        async with self._lock:
            # A topic another local subscriber opened a moment ago may still await its confirmation.
            # Checked and joined with no await in between, so the confirmation cannot slip past.
            awaited = [*channels, *(c for t in joined if (c := self._prefix + t) in self._confirmations)]
            if not awaited:
                return
            for channel in awaited:
                future: asyncio.Future[None] = loop.create_future()
                self._confirmations.setdefault(channel, []).append(future)
                futures.append(future)
            if channels:
                self._wanted.update(channels)
                if self._pubsub is not None and not self._broken:
                    try:
                        await self._pubsub.subscribe(*channels)
                    except (RedisError, OSError):
                        self._broken = True
                self._wake.set()
        try:
            # Only once Redis confirms is a message published elsewhere sure to arrive here.
            async with asyncio.timeout(self._confirm_timeout):
                await asyncio.gather(*futures)
        except TimeoutError:
            raise ServiceUnavailable("The realtime hub is unavailable", code="realtime_unavailable") from None
        finally:
            for channel, future in zip(awaited, futures, strict=True):
                waiting = self._confirmations.get(channel, [])
                if future in waiting:
                    waiting.remove(future)
                if not waiting:
                    self._confirmations.pop(channel, None)

    async def _unlisten(self, topics: list[str]) -> None:
        async with self._lock:
            # A new local subscriber may have come for the topic while we waited for the lock.
            channels = [self._prefix + t for t in topics if not self._subscribers.get(t)]
            if not channels:
                return
            self._wanted.difference_update(channels)
            if self._pubsub is not None and not self._broken and not self._closing:
                try:
                    await self._pubsub.unsubscribe(*channels)
                except (RedisError, OSError):
                    self._broken = True

    async def _connect(self) -> PubSub:
        async with self._lock:
            await self._drop_connection()
            pubsub = self._listener.pubsub()
            self._pubsub = pubsub
            self._broken = False
            # Whatever was published while no connection listened is lost: say so.
            self._epoch += 1
            if self._wanted:
                await pubsub.subscribe(*self._wanted)
            return pubsub

    async def _drop_connection(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await pubsub.aclose()

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                pubsub = self._pubsub
                if pubsub is None or self._broken:
                    pubsub = await self._connect()
                if not pubsub.subscribed:
                    self._wake.clear()
                    with suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await self._wake.wait()
                    continue
                message = await pubsub.get_message(timeout=1.0)
                backoff = 0.1
                if message is not None:
                    self._handle(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("realtime hub lost Redis, reconnecting", error=str(exc), retry_in=backoff)
                self._broken = True
                self._epoch += 1
                async with self._lock:
                    await self._drop_connection()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            except Exception:
                log.exception("realtime hub reader failed, reconnecting")
                self._broken = True
                self._epoch += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        if kind == "message":
            data = message["data"]
            raw = data.decode() if isinstance(data, bytes) else data
            self._dispatch(channel.removeprefix(self._prefix), raw)
        elif kind == "subscribe":
            for future in self._confirmations.pop(channel, []):
                if not future.done():
                    future.set_result(None)


def build_hub(redis_url: str | None) -> Hub:
    return RedisHub(redis_url) if redis_url else MemoryHub()
