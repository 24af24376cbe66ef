"""Who has an open socket, on any process: a user is online from their first socket's opening
to their last one's closing. With Redis each socket is an entry that its process refreshes;
the entries of a process that died expire after the TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import Protocol

from redis.asyncio import Redis

from basis.core.logging import get_logger

log = get_logger("basis.messenger.presence")
KEY_PREFIX = "basis:messenger:presence:"


class Presence(Protocol):
    async def opened(self, user_id: int, socket_id: str) -> bool:
        """Count the socket; True when it is the user's first anywhere."""
        ...

    async def closed(self, user_id: int, socket_id: str) -> bool:
        """Forget the socket; True when it was the user's last anywhere."""
        ...

    async def online(self, user_ids: Iterable[int]) -> set[int]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._sockets: dict[int, set[str]] = {}

    async def opened(self, user_id: int, socket_id: str) -> bool:
        sockets = self._sockets.setdefault(user_id, set())
        sockets.add(socket_id)
        return len(sockets) == 1

    async def closed(self, user_id: int, socket_id: str) -> bool:
        sockets = self._sockets.get(user_id)
        if sockets is None or socket_id not in sockets:
            return False
        sockets.discard(socket_id)
        if sockets:
            return False
        del self._sockets[user_id]
        return True

    async def online(self, user_ids: Iterable[int]) -> set[int]:
        return {uid for uid in user_ids if self._sockets.get(uid)}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._sockets.clear()


class RedisPresence:
    """One sorted set per user: socket id -> when the entry lapses unless refreshed."""

    def __init__(self, redis: Redis, *, ttl: int) -> None:
        self._redis = redis
        self._ttl = ttl
        self._local: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _key(user_id: int) -> str:
        return f"{KEY_PREFIX}{user_id}"

    async def opened(self, user_id: int, socket_id: str) -> bool:
        now = time.time()
        key = self._key(user_id)
        self._local[socket_id] = user_id
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {socket_id: now + self._ttl})
            pipe.zcard(key)
            pipe.expire(key, self._ttl * 2)
            _, _, count, _ = await pipe.execute()
        return int(count) == 1

    async def closed(self, user_id: int, socket_id: str) -> bool:
        now = time.time()
        key = self._key(user_id)
        self._local.pop(socket_id, None)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(key, socket_id)
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            removed, _, count = await pipe.execute()
        return bool(removed) and int(count) == 0

    async def online(self, user_ids: Iterable[int]) -> set[int]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return set()
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            for uid in ids:
                pipe.zcount(self._key(uid), now, "+inf")
            counts = await pipe.execute()
        return {uid for uid, count in zip(ids, counts, strict=True) if int(count)}

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                expires = time.time() + self._ttl
                async with self._redis.pipeline(transaction=False) as pipe:
                    for socket_id, user_id in list(self._local.items()):
                        pipe.zadd(self._key(user_id), {socket_id: expires}, xx=True)
                        pipe.expire(self._key(user_id), self._ttl * 2)
                    await pipe.execute()
            except Exception as error:  # Redis away: the next round tries again
                log.warning("messenger presence refresh failed", error=str(error))

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._refresh_forever(), name="basis-messenger-presence")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def build_presence(redis: Redis | None, ttl: int) -> Presence:
    return RedisPresence(redis, ttl=ttl) if redis is not None else MemoryPresence()
