"""Rate limits on the ``limits`` library: moving windows kept in memory or in Redis."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

KEY_PREFIX = "basis:limits"


@dataclass(frozen=True, slots=True)
class RateResult:
    allowed: bool
    retry_after: int
    """Whole seconds until one more hit would be allowed; 0 when allowed, at least 1 when refused."""
    remaining: int


@lru_cache(maxsize=256)
def parse_limit(limit: str) -> RateLimitItem:
    """``"5/15minutes"`` -> a limit item; raises ValueError for a malformed string."""
    return parse(limit)


def _escape(part: str) -> str:
    # limits joins identifiers with "/", so ("a/b", "c") and ("a", "b/c") would share a key.
    return part.replace("%", "%25").replace("/", "%2F")


def _limits_url(redis_url: str) -> str:
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"unsupported Redis URL scheme {scheme!r} for the rate limiter")
    return f"async+{'redis+unix' if scheme == 'unix' else scheme}://{rest}"


class RateLimiter:
    """``await limiter.hit("5/15minutes", "login", ip)``: one hit, counted across processes with Redis."""

    def __init__(self, *, redis_url: str | None, enabled: bool = True) -> None:
        self.enabled = enabled
        self._pool: ConnectionPool | None = None
        storage: Storage
        if redis_url:
            self._pool = ConnectionPool.from_url(redis_url)
            storage = RedisStorage(
                _limits_url(redis_url),
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                connection_pool=self._pool,
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, limit: str, *key: str) -> RateResult:
        item = parse_limit(limit)
        if not self.enabled:
            return RateResult(allowed=True, retry_after=0, remaining=item.amount)
        parts = [_escape(part) for part in key]
        allowed = await self._strategy.hit(item, *parts)
        return await self._result(item, parts, allowed)

    async def peek(self, limit: str, *key: str) -> RateResult:
        item = parse_limit(limit)
        if not self.enabled:
            return RateResult(allowed=True, retry_after=0, remaining=item.amount)
        parts = [_escape(part) for part in key]
        allowed = await self._strategy.test(item, *parts)
        return await self._result(item, parts, allowed)

    async def reset(self, limit: str, *key: str) -> None:
        await self._strategy.clear(parse_limit(limit), *(_escape(part) for part in key))

    async def _result(self, item: RateLimitItem, parts: list[str], allowed: bool) -> RateResult:
        reset_at, remaining = await self._strategy.get_window_stats(item, *parts)
        remaining = max(0, remaining)
        if allowed:
            return RateResult(allowed=True, retry_after=0, remaining=remaining)
        # In a moving window the oldest hit leaves at reset_at, freeing one slot.
        return RateResult(allowed=False, retry_after=max(1, math.ceil(reset_at - time.time())), remaining=0)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        elif isinstance(self._storage, MemoryStorage):
            await self._storage.reset()
            timer = self._storage.timer
            if timer is not None and not timer.done():
                timer.cancel()
