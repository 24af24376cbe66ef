"""Rate limits (identity.md "Rate limits" and "Details")."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import time_machine

from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD, events, login, register

# HTTP-level behaviour that does not depend on the database: run once, on SQLite.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def from_ip(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def test_sixth_attempt_is_429_even_with_the_right_password(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="victim@example.com")
    for _ in range(5):
        assert (await login(client, "victim@example.com", "guess guess guess")).status_code == 401
    response = await login(client, "victim@example.com")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 15 * 60
    # The same counter for the form login, the other identifier spellings and every alias.
    form = await client.post("/auth/login", data={"email": "VICTIM@example.com", "password": PASSWORD})
    assert form.status_code == 429
    limited = await events(client, admin_headers, event_type="login_rate_limited")
    assert limited and all(e["user_id"] == user.id and e["success"] is False for e in limited)


async def test_limit_is_per_ip_and_identifier_and_not_permanent(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="a@example.com")
    await make_user(email="b@example.com")
    async with make_client(trusted_proxies=["127.0.0.1"]) as client:
        start = dt.datetime.now(dt.UTC)
        with time_machine.travel(start, tick=True):
            for _ in range(5):
                await client.post(
                    "/auth/login",
                    json={"email": "a@example.com", "password": "wrong wrong"},
                    headers=from_ip("10.0.0.1"),
                )
            blocked = await client.post(
                "/auth/login",
                json={"email": "a@example.com", "password": PASSWORD},
                headers=from_ip("10.0.0.1"),
            )
            assert blocked.status_code == 429
            # Another account from the same address, and the same account from elsewhere, still work.
            other_account = await client.post(
                "/auth/login",
                json={"email": "b@example.com", "password": PASSWORD},
                headers=from_ip("10.0.0.1"),
            )
            assert other_account.status_code == 200
            other_ip = await client.post(
                "/auth/login",
                json={"email": "a@example.com", "password": PASSWORD},
                headers=from_ip("10.0.0.2"),
            )
            assert other_ip.status_code == 200
        with time_machine.travel(start + dt.timedelta(minutes=16), tick=True):
            again = await client.post(
                "/auth/login",
                json={"email": "a@example.com", "password": PASSWORD},
                headers=from_ip("10.0.0.1"),
            )
            assert again.status_code == 200


async def test_the_pair_limit_counts_the_account_whatever_name_is_typed(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="both@example.com", username="both.names")
    for name in ("both@example.com", "both.names", "BOTH@example.com", "both.names", " both@example.com"):
        assert (await login(client, name, "wrong guess!")).status_code == 401
    # Five guesses at one account from one address, under two names: the sixth waits either way.
    for name in ("both.names", "both@example.com"):
        response = await login(client, name)
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    # A name that is no account still has its own counter.
    statuses = [(await login(client, "nobody.here", "whatever pass")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_a_success_under_one_name_clears_the_guesses_under_the_other(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="mixed@example.com", username="mixed")
    for _ in range(4):
        assert (await login(client, "mixed@example.com", "fat fingers!")).status_code == 401
    assert (await login(client, "mixed")).status_code == 200
    for _ in range(4):
        assert (await login(client, "mixed@example.com", "fat fingers!")).status_code == 401
    assert (await login(client, "mixed@example.com")).status_code == 200


async def test_untrusted_peer_cannot_choose_its_address(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="spoof@example.com")
    for index in range(5):
        await client.post(
            "/auth/login",
            json={"email": "spoof@example.com", "password": "wrong wrong"},
            headers=from_ip(f"10.9.9.{index}"),
        )
    response = await client.post(
        "/auth/login", json={"email": "spoof@example.com", "password": PASSWORD}, headers=from_ip("10.9.9.99")
    )
    assert response.status_code == 429


async def test_success_resets_the_pair_counter(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="typo@example.com")
    for _ in range(3):
        for _ in range(4):
            assert (await login(client, "typo@example.com", "fat fingers!")).status_code == 401
        assert (await login(client, "typo@example.com")).status_code == 200


async def test_looser_per_ip_ceiling_across_identifiers(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="spray@example.com")
    async with make_client(login_limit_ip="4/15minutes") as client:
        for index in range(4):
            assert (await login(client, f"user{index}@example.com", "password spraying")).status_code == 401
        response = await login(client, "spray@example.com")
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1


async def test_per_account_ceiling_across_ips(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="target@example.com", username="target")
    async with make_client(trusted_proxies=["127.0.0.1"], login_limit_account="3/hour") as client:
        for index, name in enumerate(["target@example.com", "target", "TARGET"]):
            response = await client.post(
                "/auth/login",
                json={"login": name, "password": "distributed guess"},
                headers=from_ip(f"10.1.0.{index}"),
            )
            assert response.status_code == 401
        response = await client.post(
            "/auth/login", json={"login": "target", "password": PASSWORD}, headers=from_ip("10.1.0.200")
        )
        assert response.status_code == 429


async def test_unknown_accounts_are_limited_like_known_ones(client: httpx.AsyncClient) -> None:
    statuses = [(await login(client, "ghost@example.com", "whatever pass")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_register_is_limited_per_ip(make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(register_limit_ip="2/hour") as client:
        assert (await register(client, "r1@example.com")).status_code == 201
        assert (await register(client, "r2@example.com")).status_code == 201
        response = await register(client, "r3@example.com")
        assert response.status_code == 429 and "retry-after" in response.headers


async def test_limits_can_be_disabled(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="free@example.com")
    async with make_client(rate_limits_enabled=False) as client:
        for _ in range(7):
            await login(client, "free@example.com", "wrong wrong")
        assert (await login(client, "free@example.com")).status_code == 200
