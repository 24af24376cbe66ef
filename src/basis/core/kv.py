"""Short-lived shared values (challenges, revocations, presence): in memory or in Redis."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

KEY_PREFIX = "basis:kv:"


class KeyValue(Protocol):
    async def set(self, key: str, value: str, ttl_seconds: int, nx: bool = False) -> bool:
        """Store ``value`` for ``ttl_seconds``; with ``nx`` only when absent. True when stored."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def pop(self, key: str) -> str | None:
        """Get and delete in one step: of two concurrent pops only one gets the value."""
        ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str, ttl_seconds: int) -> int:
        """Add one; a new counter starts at 1 and expires ``ttl_seconds`` after its first increment."""
        ...

    async def close(self) -> None: ...


def _check_ttl(ttl_seconds: int) -> None:
    if ttl_seconds < 1:
        raise ValueError("ttl_seconds must be at least 1")


class MemoryKV:
    """One process's store. No method awaits mid-operation, so each is atomic on the event loop."""

    _SWEEP_EVERY = 1000

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float]] = {}
        self._writes = 0

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= time.monotonic():
            del self._data[key]
            return None
        return entry[0]

    def _store(self, key: str, value: str, ttl_seconds: int) -> None:
        self._data[key] = (value, time.monotonic() + ttl_seconds)
        self._writes += 1
        if self._writes % self._SWEEP_EVERY == 0:
            now = time.monotonic()
            for stale in [k for k, (_, expires) in self._data.items() if expires <= now]:
                del self._data[stale]

    async def set(self, key: str, value: str, ttl_seconds: int, nx: bool = False) -> bool:
        _check_ttl(ttl_seconds)
        if nx and self._live(key) is not None:
            return False
        self._store(key, value, ttl_seconds)
        return True

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def pop(self, key: str) -> str | None:
        value = self._live(key)
        self._data.pop(key, None)
        return value

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl_seconds: int) -> int:
        _check_ttl(ttl_seconds)
        current = self._live(key)
        if current is None:
            self._store(key, "1", ttl_seconds)
            return 1
        value = int(current) + 1
        self._data[key] = (str(value), self._data[key][1])
        return value

    async def close(self) -> None:
        self._data.clear()


class RedisKV:
    """Keys live under ``basis:kv:``; the client belongs to the caller (infra closes it)."""

    def __init__(self, redis: Redis, *, prefix: str = KEY_PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    async def set(self, key: str, value: str, ttl_seconds: int, nx: bool = False) -> bool:
        _check_ttl(ttl_seconds)
        return bool(await self._redis.set(self._prefix + key, value, ex=ttl_seconds, nx=nx))

    async def get(self, key: str) -> str | None:
        return _text(await self._redis.get(self._prefix + key))

    async def pop(self, key: str) -> str | None:
        return _text(await self._redis.getdel(self._prefix + key))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def incr(self, key: str, ttl_seconds: int) -> int:
        _check_ttl(ttl_seconds)
        name = self._prefix + key
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(name, 0, ex=ttl_seconds, nx=True)
            pipe.incr(name)
            _, value = await pipe.execute()
        return int(value)

    async def close(self) -> None:
        return None


def _text(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode()


def build_kv(redis: Redis | None) -> KeyValue:
    return RedisKV(redis) if redis is not None else MemoryKV()
