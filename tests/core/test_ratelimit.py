"""The rate limiter: moving windows, in memory and shared through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from basis.core.ratelimit import RateLimiter

MakeLimiter = Callable[..., RateLimiter]


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    made: list[RateLimiter] = []

    def make(enabled: bool = True) -> RateLimiter:
        made.append(RateLimiter(redis_url=redis_url, enabled=enabled))
        return made[-1]

    yield make
    for limiter in made:
        await limiter.close()


async def test_allows_the_limit_then_refuses_with_retry_after(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    results = [await limiter.hit("3/minute", "login", "10.0.0.1") for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert results[0].retry_after == 0
    assert 58 <= results[3].retry_after <= 60


async def test_window_moves_instead_of_resetting(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    assert (await limiter.hit("2/second", "k")).allowed
    await asyncio.sleep(0.6)
    assert (await limiter.hit("2/second", "k")).allowed
    refused = await limiter.hit("2/second", "k")
    assert not refused.allowed and refused.retry_after == 1
    await asyncio.sleep(0.5)
    # The first hit has left the window, the second has not: one slot, not a fresh window of two.
    assert (await limiter.hit("2/second", "k")).allowed
    assert not (await limiter.hit("2/second", "k")).allowed


async def test_peek_does_not_consume(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    await limiter.hit("2/minute", "peek")
    for _ in range(5):
        peeked = await limiter.peek("2/minute", "peek")
        assert peeked.allowed and peeked.remaining == 1
    assert (await limiter.hit("2/minute", "peek")).allowed
    peeked = await limiter.peek("2/minute", "peek")
    assert not peeked.allowed and peeked.retry_after >= 1


async def test_reset_and_separate_keys(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    assert (await limiter.hit("1/hour", "a/b", "c")).allowed
    assert not (await limiter.hit("1/hour", "a/b", "c")).allowed
    # Key parts are not merely joined: ("a", "b/c") is another key.
    assert (await limiter.hit("1/hour", "a", "b/c")).allowed
    # The same key under another limit string counts separately.
    assert (await limiter.hit("5/hour", "a/b", "c")).allowed
    await limiter.reset("1/hour", "a/b", "c")
    assert (await limiter.hit("1/hour", "a/b", "c")).allowed


async def test_disabled_limiter_always_allows(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(enabled=False)
    for _ in range(5):
        result = await limiter.hit("1/hour", "x")
        assert result.allowed and result.retry_after == 0


async def test_malformed_limit_is_refused(make_limiter: MakeLimiter) -> None:
    with pytest.raises(ValueError):
        await make_limiter().hit("lots", "x")


async def test_two_limiters_on_one_redis_share_counts(redis_url: str) -> None:
    first, second = RateLimiter(redis_url=redis_url), RateLimiter(redis_url=redis_url)
    try:
        await asyncio.gather(*(first.hit("4/minute", "shared") for _ in range(2)))
        assert (await second.hit("4/minute", "shared")).remaining == 1
        assert (await first.hit("4/minute", "shared")).allowed
        assert not (await second.hit("4/minute", "shared")).allowed
        await second.reset("4/minute", "shared")
        assert (await first.peek("4/minute", "shared")).remaining == 4
    finally:
        await first.close()
        await second.close()
