"""Password hashing (Argon2id; bcrypt verified and upgraded) and the password policy.

Hashing is CPU-bound for tens of milliseconds, so it always runs in a worker thread.
"""

from __future__ import annotations

import secrets
from functools import cache
from importlib import resources
from typing import Literal

import anyio.to_thread
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

Profile = Literal["production", "fast"]

MIN_LENGTH = 8
MAX_LENGTH = 1024
"""Characters a password may have at most (and hashing input is capped at MAX_BYTES)."""
MAX_BYTES = 1024
BCRYPT_MAX_BYTES = 72


@cache
def hasher(profile: Profile = "production") -> PasswordHash:
    if profile == "fast":
        # For test suites only (settings refuse it in prod): same algorithm, minimal cost.
        argon = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    else:
        # OWASP's recommended Argon2id configuration (19 MiB, 2 passes, 1 lane): ~50 ms here,
        # so a 2-core server still answers logins promptly under a burst.
        argon = Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1)
    return PasswordHash((argon, BcryptHasher()))


def _verify_sync(profile: Profile, password: str, hashed: str) -> tuple[bool, str | None]:
    data = password.encode()
    if len(data) > MAX_BYTES:
        return False, None
    if hashed.startswith("$2") and len(data) > BCRYPT_MAX_BYTES:
        # bcrypt would only see the first 72 bytes; refuse rather than accept a truncation.
        return False, None
    try:
        return hasher(profile).verify_and_update(password, hashed)
    except (UnknownHashError, ValueError):
        return False, None


async def hash_password(password: str, *, profile: Profile = "production") -> str:
    if len(password.encode()) > MAX_BYTES:
        raise ValueError("password too long")
    return await anyio.to_thread.run_sync(hasher(profile).hash, password)


async def verify_password(
    password: str, hashed: str, *, profile: Profile = "production"
) -> tuple[bool, str | None]:
    """``(valid, new_hash)``: ``new_hash`` is set when the stored hash should be upgraded."""
    return await anyio.to_thread.run_sync(_verify_sync, profile, password, hashed)


@cache
def _dummy_hash(profile: Profile) -> str:
    return hasher(profile).hash(secrets.token_urlsafe(16))


async def prepare(profile: Profile = "production") -> None:
    """Compute the dummy hash at start-up so the first unknown-account login is not slower."""
    await anyio.to_thread.run_sync(_dummy_hash, profile)


async def burn_verify(password: str, *, profile: Profile = "production") -> None:
    """Spend the time a real verification takes, for an account that does not exist."""
    dummy = await anyio.to_thread.run_sync(_dummy_hash, profile)
    await anyio.to_thread.run_sync(_verify_sync, profile, password, dummy)


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("basis.identity").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def policy_problem(password: str, *, context: tuple[str | None, ...] = ()) -> str | None:
    """Why ``password`` is refused, or ``None``. No composition rules, by design (NIST 800-63B)."""
    if len(password) < MIN_LENGTH:
        return f"Password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH or len(password.encode()) > MAX_BYTES:
        return f"Password must have at most {MAX_BYTES} bytes"
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) < 3:
        return "This password is too common; choose another"
    for word in context:
        if not word:
            continue
        word = word.lower().split("@", 1)[0]
        if len(word) >= 4 and (
            lowered == word or (lowered.startswith(word) and len(lowered) - len(word) <= 4)
        ):
            return "Password must not be based on your email or username"
    return None
