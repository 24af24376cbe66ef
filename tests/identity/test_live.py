"""Real server processes: the curl checklist, and revocation / rate limits across processes via Redis."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from basis import __version__
from tests.fixtures.auth import DEFAULT_PASSWORD, MakeUser

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def checklist(*args: str) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "auth_checklist.sh"
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=120)


def test_curl_checklist_passes(live_servers: Callable[..., Any]) -> None:
    with live_servers(1) as (url,):
        result = checklist(url, __version__)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "all checks passed" in result.stdout
        # And it does fail when a check fails (here: the version it expects).
        wrong = checklist(url, "0.0.0-not-this")
        assert wrong.returncode != 0 and "FAILED" in wrong.stdout


async def test_revocation_and_limits_cross_processes_with_redis(
    live_servers: Callable[..., Any], redis_url: str, make_user: MakeUser
) -> None:
    user = await make_user(email="multi@example.com")
    await make_user(role="admin", email="multi-admin@example.com")
    with live_servers(2, redis_url=redis_url) as (first, second):
        async with httpx.AsyncClient(base_url=first) as a, httpx.AsyncClient(base_url=second) as b:
            body = {"email": "multi@example.com", "password": DEFAULT_PASSWORD, "client": "native"}
            tokens = (await a.post("/auth/login", json=body)).json()
            other = (await a.post("/auth/login", json=body)).json()
            a.cookies.clear()  # log out by the Bearer token, not by the cookie of the last login
            auth = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert (await b.get("/auth/me", headers=auth)).status_code == 200
            # Logout handled by process A ends the access token in process B at once.
            assert (await a.post("/auth/logout", headers=auth)).status_code == 200
            assert (await b.get("/auth/me", headers=auth)).status_code == 401
            # An admin's deactivation through B ends the other session in A.
            admin = (
                await b.post(
                    "/auth/login", json={"email": "multi-admin@example.com", "password": DEFAULT_PASSWORD}
                )
            ).json()
            admin_auth = {"Authorization": f"Bearer {admin['access_token']}"}
            other_auth = {"Authorization": f"Bearer {other['access_token']}"}
            assert (await a.get("/auth/me", headers=other_auth)).status_code == 200
            assert (
                await b.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin_auth)
            ).status_code == 200
            assert (await a.get("/auth/me", headers=other_auth)).status_code == 401

            # Five failures spread over both processes: the sixth attempt is refused by either.
            wrong = {"email": "target@example.com", "password": "not the password"}
            for index in range(5):
                response = await (a if index % 2 else b).post("/auth/login", json=wrong)
                assert response.status_code == 401
            assert (await a.post("/auth/login", json=wrong)).status_code == 429
            assert (await b.post("/auth/login", json=wrong)).status_code == 429
