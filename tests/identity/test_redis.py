"""With Redis: revocations and login counters are shared by every process of a deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
import redis

from basis.core.kv import KEY_PREFIX
from basis.identity.revocation import PREFIX
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD, bearer, login

# HTTP-level behaviour that does not depend on the database: run once, on SQLite.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


async def test_two_app_instances_share_revocations(
    make_client: Callable[..., Any], make_user: MakeUser, redis_url: str
) -> None:
    await make_user(email="shared@example.com")
    async with make_client(redis_url=redis_url) as one, make_client(redis_url=redis_url) as two:
        tokens = (await login(one, "shared@example.com", client="native")).json()
        assert (await two.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
        assert (await one.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 200
        assert (await two.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    sid = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sid"]
    client = redis.Redis.from_url(redis_url)
    try:
        ttl = client.ttl(f"{KEY_PREFIX}{PREFIX}{sid}")
    finally:
        client.close()
    # Kept exactly as long as an access token of the session can live, then forgotten.
    assert 15 * 60 <= ttl <= 15 * 60 + 120


async def test_two_app_instances_share_login_counters(
    make_client: Callable[..., Any], make_user: MakeUser, redis_url: str
) -> None:
    await make_user(email="counted@example.com")
    async with make_client(redis_url=redis_url) as one, make_client(redis_url=redis_url) as two:
        for index in range(5):
            assert (
                await login(one if index % 2 else two, "counted@example.com", "bad guess!")
            ).status_code == 401
        assert (await login(one, "counted@example.com", PASSWORD)).status_code == 429
        assert (await login(two, "counted@example.com", PASSWORD)).status_code == 429


async def test_without_redis_each_process_has_its_own_list(
    make_client: Callable[..., Any], make_user: MakeUser
) -> None:
    # The documented limit of a Redis-less deployment: run one process. The refresh token is
    # still dead everywhere because it lives in the database.
    await make_user(email="local@example.com")
    async with make_client() as one, make_client() as two:
        tokens = (await login(one, "local@example.com", client="native")).json()
        await one.post("/auth/logout", headers=bearer(tokens["access_token"]))
        assert (await one.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
        assert (
            await two.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).status_code == 401
