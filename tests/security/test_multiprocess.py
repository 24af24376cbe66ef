"""Two real server processes sharing Redis behave like one: limits and revocations cross over.

One pair of servers serves every check: starting processes is the slow part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.security.helpers import DEFAULT_PASSWORD, bearer, login, login_ok, refresh_json

pytestmark = pytest.mark.slow


async def test_two_processes_share_limits_and_revocations(
    live_servers: Callable[..., Any], redis_url: str, make_user: Any, admin_headers: dict[str, str]
) -> None:
    target, user, leaver = await make_user(), await make_user(), await make_user()
    with live_servers(2, redis_url=redis_url) as (first, second):
        async with httpx.AsyncClient(timeout=20) as client:
            # Login limits: failures spread over both processes count in one bucket.
            for attempt in range(5):
                base = first if attempt % 2 == 0 else second
                response = await login(client, target.email, f"wrong {attempt}", base=base)
                assert response.status_code == 401, (base, response.text)
            for base in (first, second):
                response = await login(client, target.email, DEFAULT_PASSWORD, base=base)
                assert response.status_code == 429, ("limit not shared", base, response.text)
                assert int(response.headers["retry-after"]) > 0

            # Logout in one process ends the access token in the other at once.
            tokens = await login_ok(client, user.email, base=first)
            other = await login_ok(client, user.email, base=second)
            for access in (tokens.access, other.access):  # warm the second process's view first
                assert (await client.get(f"{second}/auth/me", headers=bearer(access))).status_code == 200
            assert (await client.post(f"{first}/auth/logout", headers=tokens.headers)).status_code == 200
            response = await client.get(f"{second}/auth/me", headers=tokens.headers)
            assert response.status_code == 401, ("logout not seen by the other process", response.text)
            assert (await client.get(f"{second}/auth/me", headers=other.headers)).status_code == 200

            assert (await client.post(f"{second}/auth/logout-all", headers=other.headers)).status_code == 200
            assert (await client.get(f"{first}/auth/me", headers=other.headers)).status_code == 401
            assert (await refresh_json(client, other.refresh, base=first)).status_code == 401

            # An admin's deactivation through one process ends the sessions everywhere.
            theirs = await login_ok(client, leaver.email, base=first)
            assert (await client.get(f"{first}/auth/me", headers=theirs.headers)).status_code == 200
            response = await client.patch(
                f"{second}/users/{leaver.id}", json={"is_active": False}, headers=admin_headers
            )
            assert response.status_code == 200, response.text
            assert (await client.get(f"{first}/auth/me", headers=theirs.headers)).status_code == 401
