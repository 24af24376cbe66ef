"""Identity's rate limits: which counter, keyed by what, in one place.

All counters live in ``infra.limiter`` (memory, or Redis shared by every process). Limits are
the settings' ``limits`` strings; every window moves, so no account is ever locked for good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from basis.core.errors import TooManyRequests

if TYPE_CHECKING:
    from basis.core.ratelimit import RateLimiter
    from basis.settings import Settings


def account_key(user_id: int | None, identifier: str) -> str:
    # Per account whatever name was typed (email or username); unknown names count the same way.
    return f"u:{user_id}" if user_id is not None else f"i:{identifier}"


class LoginLimits:
    """The three login counters of identity.md, shared by every login path (API, aliases, panel).

    ``account`` is ``account_key``: the account the typed name resolves to, so that its email
    and its username count as one; a name that is no account counts under itself.
    """

    def __init__(self, limiter: RateLimiter, settings: Settings, *, ip: str, account: str) -> None:
        self.limiter = limiter
        self.settings = settings
        self.ip = ip
        self.account = account

    async def take_attempt(self) -> int | None:
        """Counts this attempt for (ip, account); seconds to wait when over the limit.

        Counted before the password is checked, so concurrent guesses cannot exceed the limit;
        a success gives the attempt back (``succeeded``).
        """
        limit = self.settings.login_limit_ip_identifier
        result = await self.limiter.hit(limit, "login", self.ip, self.account)
        return None if result.allowed else result.retry_after

    async def ceiling_wait(self) -> int | None:
        """Seconds to wait when the looser per-IP or per-account failure ceiling is reached."""
        waits = []
        for limit, key in (
            (self.settings.login_limit_ip, ("login-ip", self.ip)),
            (self.settings.login_limit_account, ("login-account", self.account)),
        ):
            result = await self.limiter.peek(limit, *key)
            if not result.allowed:
                waits.append(result.retry_after)
        return max(waits) if waits else None

    async def failed(self) -> None:
        await self.limiter.hit(self.settings.login_limit_ip, "login-ip", self.ip)
        await self.limiter.hit(self.settings.login_limit_account, "login-account", self.account)

    async def succeeded(self) -> None:
        await self.limiter.reset(self.settings.login_limit_ip_identifier, "login", self.ip, self.account)


async def enforce(
    limiter: RateLimiter, limit: str, *key: str, detail: str = "Too many requests; try again later"
) -> None:
    """One hit on ``limit`` for ``key``; 429 with Retry-After when over it."""
    result = await limiter.hit(limit, *key)
    if not result.allowed:
        raise TooManyRequests(detail, retry_after=result.retry_after)


async def allowed(limiter: RateLimiter, limit: str, *key: str) -> bool:
    """One hit; False when over the limit (for limits that must not show, e.g. reset mails)."""
    return (await limiter.hit(limit, *key)).allowed


async def password_check_wait(limiter: RateLimiter, settings: Settings, ip: str, user_id: int) -> int | None:
    """Guessing the current password on /auth/password/change is limited like a login."""
    result = await limiter.peek(settings.login_limit_ip_identifier, "password-change", ip, f"u:{user_id}")
    return None if result.allowed else result.retry_after


async def password_check_failed(limiter: RateLimiter, settings: Settings, ip: str, user_id: int) -> None:
    await limiter.hit(settings.login_limit_ip_identifier, "password-change", ip, f"u:{user_id}")
