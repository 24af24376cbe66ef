"""Rate limits on the ``limits`` library: moving windows kept in memory or in Redis.

While Redis cannot be reached, limits are counted in the process instead (each process then
allows the limit on its own) rather than refusing every limited call: a login, a reset mail or a
terminal batch keeps working through a Redis restart, and the shared count takes over again as
soon as Redis answers. One log line marks each change.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from basis.core.logging import get_logger

log = get_logger("basis.ratelimit")

KEY_PREFIX = "basis:limits"
RETRY_REDIS_SECONDS = 5.0
"""After a failure, how long limits stay in the process before Redis is tried again."""
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


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
            storage = _MemoryStorage()
        self._storage = storage
        self._shared = MovingWindowRateLimiter(storage)
        self._local: MovingWindowRateLimiter | None = None
        """The in-process stand-in while Redis is unreachable."""
        self._redis_retry_at = 0.0

    def _strategy(self) -> MovingWindowRateLimiter:
        if self._local is not None and time.monotonic() < self._redis_retry_at:
            return self._local
        return self._shared

    async def _run(
        self, call: str, item: RateLimitItem, parts: list[str], cost: int = 1
    ) -> tuple[bool, tuple[float, int]]:
        """``call`` (hit / test) and the window's stats, on Redis or, while it is down, locally."""
        strategy = self._strategy()
        try:
            allowed = await getattr(strategy, call)(item, *parts, cost=cost)
            stats = await strategy.get_window_stats(item, *parts)
        except _UNREACHABLE as exc:
            if strategy is not self._shared or self._pool is None:
                raise
            if self._local is None:
                self._local = MovingWindowRateLimiter(_MemoryStorage())
            if self._redis_retry_at == 0.0:
                log.warning("rate limits counted in this process: Redis is unreachable", error=str(exc))
            self._redis_retry_at = time.monotonic() + RETRY_REDIS_SECONDS
            return await self._run(call, item, parts, cost)
        if strategy is self._shared and self._redis_retry_at:
            self._redis_retry_at = 0.0
            log.warning("rate limits shared through Redis again")
        return allowed, stats

    async def hit(self, limit: str, *key: str, cost: int = 1) -> RateResult:
        """``cost`` hits at once (e.g. the items of a batch): all counted, or none when they do
        not fit."""
        item = parse_limit(limit)
        if not self.enabled:
            return RateResult(allowed=True, retry_after=0, remaining=item.amount)
        parts = [_escape(part) for part in key]
        return _result(*await self._run("hit", item, parts, cost))

    async def peek(self, limit: str, *key: str) -> RateResult:
        item = parse_limit(limit)
        if not self.enabled:
            return RateResult(allowed=True, retry_after=0, remaining=item.amount)
        parts = [_escape(part) for part in key]
        return _result(*await self._run("test", item, parts))

    async def reset(self, limit: str, *key: str) -> None:
        item, parts = parse_limit(limit), [_escape(part) for part in key]
        if self._local is not None:
            await self._local.clear(item, *parts)
        try:
            await self._shared.clear(item, *parts)
        except _UNREACHABLE:
            if self._pool is None:
                raise

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        for storage in (self._storage, self._local.storage if self._local is not None else None):
            if isinstance(storage, MemoryStorage):
                await storage.reset()
                timer = storage.timer
                if timer is not None and not timer.done():
                    timer.cancel()


class _MemoryStorage(MemoryStorage):
    """limits' in-memory storage with a ``clear`` its expiry task survives: that task reads
    ``events[key]`` for the keys it listed before it awaited, so a key removed meanwhile (a
    login's reset) raised KeyError in it, logged as a traceback per login. Emptied instead,
    the key is dropped by the task itself."""

    async def clear(self, key: str) -> None:
        self.storage.pop(key, None)
        self.expirations.pop(key, None)
        if key in self.events:
            self.events[key] = []


def _result(allowed: bool, stats: tuple[float, int]) -> RateResult:
    reset_at, remaining = stats
    if allowed:
        return RateResult(allowed=True, retry_after=0, remaining=max(0, remaining))
    # In a moving window the oldest hit leaves at reset_at, freeing one slot.
    return RateResult(allowed=False, retry_after=max(1, math.ceil(reset_at - time.time())), remaining=0)
