"""With Redis: revocations and login counters are shared by every process of a deployment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

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
        # Both processes now remember the session as alive.
        for app in (one, two):
            assert (await app.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
        assert (await one.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 200
        assert (await two.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
        assert (await one.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401


async def test_a_revocation_survives_a_redis_restart_without_persistence(
    make_client: Callable[..., Any], make_user: MakeUser, redis_url: str
) -> None:
    """The database is the record of revocations: emptying Redis brings no token back."""
    await make_user(email="flushed@example.com")
    async with make_client(redis_url=redis_url) as one, make_client(redis_url=redis_url) as two:
        tokens = (await login(one, "flushed@example.com", client="native")).json()
        assert (await two.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
        assert (await one.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 200
        client = redis.Redis.from_url(redis_url)
        try:
            client.flushdb()
        finally:
            client.close()
        for app in (one, two):
            assert (await app.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401


async def test_a_role_change_in_one_process_applies_in_the_other_at_once(
    make_client: Callable[..., Any], make_user: MakeUser, redis_url: str
) -> None:
    admin = await make_user(email="boss@example.com", role="admin")
    worker = await make_user(email="worker@example.com", role="operator")
    async with make_client(redis_url=redis_url) as one, make_client(redis_url=redis_url) as two:
        boss = (await login(one, "boss@example.com")).json()["access_token"]
        token = (await login(two, "worker@example.com")).json()["access_token"]
        assert (await two.get("/auth/me", headers=bearer(token))).json()["role"] == "operator"
        changed = await one.patch(f"/users/{worker.id}", json={"role": "user"}, headers=bearer(boss))
        assert changed.status_code == 200, changed.text
        assert (await two.get("/auth/me", headers=bearer(token))).json()["role"] == "user"
        gone = await one.patch(f"/users/{worker.id}", json={"is_active": False}, headers=bearer(boss))
        assert gone.status_code == 200, gone.text
        assert (await two.get("/auth/me", headers=bearer(token))).status_code == 401
    assert admin.id != worker.id


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


async def test_without_redis_processes_sharing_a_data_dir_still_agree(
    make_client: Callable[..., Any], make_user: MakeUser
) -> None:
    # One process is the documented set-up without Redis; a second one (or the command line)
    # still learns of a change through the stamp file, and the database decides on a miss.
    await make_user(email="local@example.com")
    async with make_client() as one, make_client() as two:
        tokens = (await login(one, "local@example.com", client="native")).json()
        assert (await two.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 200
        await one.post("/auth/logout", headers=bearer(tokens["access_token"]))
        for app in (one, two):
            assert (await app.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
        assert (
            await two.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).status_code == 401
