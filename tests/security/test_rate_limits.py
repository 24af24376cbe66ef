"""Brute-force limits: login per (ip, identifier), per IP, per account; reset, register, refresh."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
import time_machine

from tests.security.helpers import (
    DEFAULT_PASSWORD,
    STRONG_PASSWORD,
    Mailbox,
    comparable_headers,
    events,
    form_login,
    login,
    login_ok,
    refresh_json,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
TRUSTED = {"trusted_proxies": ["127.0.0.1"]}  # the in-process client's peer is 127.0.0.1


def xff(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, (response.status_code, response.text)
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) > 0, retry_after
    assert "access_token" not in response.text


async def test_sixth_login_per_ip_and_identifier_is_refused_even_with_the_right_password(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    for attempt in range(5):
        response = await login(client, user.email, f"wrong password {attempt}")
        assert response.status_code == 401, (attempt, response.text)
    assert_limited(await login(client, user.email, DEFAULT_PASSWORD))
    assert_limited(await form_login(client, user.email, DEFAULT_PASSWORD))
    # The identifier is normalised: case and surrounding spaces do not open a new bucket.
    assert_limited(await login(client, user.email.upper(), DEFAULT_PASSWORD))
    spaced = await login(client, f"  {user.email} ", DEFAULT_PASSWORD)
    assert spaced.status_code != 200, "a respelled identifier must not open a fresh bucket that logs in"
    # Another identifier from the same IP is not affected by this (ip, identifier) bucket.
    other = await make_user()
    assert (await login(client, other.email)).status_code == 200
    limited = await events(client, admin_headers, event_type="login_rate_limited")
    assert limited, "login_rate_limited is audited"


async def test_form_logins_count_in_the_same_bucket(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    for attempt in range(5):
        response = await form_login(client, user.email, f"wrong {attempt}")
        assert response.status_code == 401, response.text
    assert_limited(await form_login(client, user.email, DEFAULT_PASSWORD))
    assert_limited(await login(client, user.email, DEFAULT_PASSWORD))


async def test_switching_between_json_and_form_shares_the_counter(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user(username="switcher", email="switcher@example.com")
    await login(client, user.email, "wrong 1")
    await form_login(client, user.email, "wrong 2")
    await login(client, user.email, "wrong 3", field_name="login")
    await form_login(client, user.email.upper(), "wrong 4")
    await login(client, user.email, "wrong 5", native=False)
    assert_limited(await form_login(client, user.email, DEFAULT_PASSWORD))
    assert_limited(await login(client, user.email, DEFAULT_PASSWORD, native=False))


async def test_mixed_identifier_fields_do_not_escape_the_bucket(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    # A body naming the account in one field and a decoy in another must not be counted under
    # the decoy while being checked against the account (a fresh bucket per decoy).
    user = await make_user(username="mixed_user", email="mixed@example.com")
    for i in range(5):
        await login(client, user.email, f"wrong {i}")
    mixed: list[dict[str, Any]] = [
        {"email": "decoy1@example.com", "login": user.email},
        {"login": "decoy2@example.com", "email": user.email},
        {"username": "decoy3", "email": user.email},
        {"email": "decoy4@example.com", "username": user.email},
        {"login": user.email, "username": "decoy5"},
    ]
    for body in mixed:
        response = await client.post("/auth/login", json={**body, "password": DEFAULT_PASSWORD})
        client.cookies.clear()
        assert response.status_code != 200, ("bucket escaped with", body)
    for data in (
        {"username": "decoy6", "email": user.email},
        {"email": "decoy7@example.com", "username": user.email},
    ):
        response = await client.post("/auth/login", data={**data, "password": DEFAULT_PASSWORD})
        client.cookies.clear()
        assert response.status_code != 200, ("bucket escaped with form", data)


async def test_failures_on_an_unknown_account_are_limited_too(client: httpx.AsyncClient) -> None:
    first = [await login(client, "ghost@example.com", f"guess {i}") for i in range(5)]
    assert {r.status_code for r in first} == {401}
    assert_limited(await login(client, "ghost@example.com", "guess 6"))


async def test_successful_login_does_not_consume_the_failure_budget(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    for _ in range(8):
        assert (await login(client, user.email)).status_code == 200


async def test_per_ip_ceiling_across_identifiers(make_client: ClientFactory, make_user: Any) -> None:
    user = await make_user()
    async with make_client(**TRUSTED) as client:
        attacker = xff("198.51.100.7")
        for i in range(50):  # 50 identifiers, one failure each: never 5 on one (ip, identifier)
            response = await login(client, f"spray{i}@example.com", "Winter2024!", headers=attacker)
            assert response.status_code == 401, (i, response.text)
        assert_limited(await login(client, user.email, DEFAULT_PASSWORD, headers=attacker))
        # The ceiling is per IP: the real user elsewhere still gets in.
        assert (
            await login(client, user.email, DEFAULT_PASSWORD, headers=xff("203.0.113.20"))
        ).status_code == 200


async def test_per_account_ceiling_across_ips_and_no_permanent_lockout(
    make_client: ClientFactory, make_user: Any
) -> None:
    user = await make_user()
    async with make_client(**TRUSTED) as client:
        for i in range(20):  # 4 failures from each of 5 IPs: under the per-(ip, identifier) limit
            response = await login(client, user.email, f"wrong {i}", headers=xff(f"192.0.2.{i // 4 + 1}"))
            assert response.status_code == 401, (i, response.text)
        assert_limited(await login(client, user.email, DEFAULT_PASSWORD, headers=xff("192.0.2.200")))
        assert_limited(await form_login(client, user.email, DEFAULT_PASSWORD, headers=xff("192.0.2.201")))
        # identity.md: "No account is ever locked permanently".
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=5), tick=False):
            response = await login(client, user.email, DEFAULT_PASSWORD, headers=xff("192.0.2.202"))
            assert response.status_code == 200, response.text


async def test_ip_identifier_window_ends_after_15_minutes(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    for i in range(5):
        await login(client, user.email, f"wrong {i}")
    assert_limited(await login(client, user.email))
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16), tick=False):
        assert (await login(client, user.email)).status_code == 200


async def test_forwarded_for_is_ignored_when_the_peer_is_not_a_trusted_proxy(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    for i in range(5):
        response = await login(
            client,
            user.email,
            f"wrong {i}",
            headers={"X-Forwarded-For": f"10.9.8.{i}", "X-Real-IP": f"10.9.7.{i}"},
        )
        assert response.status_code == 401
    assert_limited(
        await login(client, user.email, headers={"X-Forwarded-For": "10.9.8.99", "X-Real-IP": "10.9.7.99"})
    )
    failures = await events(client, admin_headers, event_type="login_failure")
    assert failures and {e["ip"] for e in failures} == {"127.0.0.1"}, [e["ip"] for e in failures]


async def test_spoofed_left_entries_of_forwarded_for_do_not_open_new_buckets(
    make_client: ClientFactory, make_user: Any
) -> None:
    # Behind one trusted proxy the client is the right-most address the proxy appended; the
    # left entries come from the client and are forgeable (identity.md: "the client IP is the
    # socket peer unless the peer is in BASIS_TRUSTED_PROXIES; then the forwarded header is used").
    user = await make_user()
    async with make_client(**TRUSTED) as client:
        for i in range(5):
            response = await login(client, user.email, f"wrong {i}", headers=xff(f"10.0.0.{i}, 203.0.113.9"))
            assert response.status_code == 401
        assert_limited(await login(client, user.email, headers=xff("10.0.0.77, 203.0.113.9")))
        assert_limited(await login(client, user.email, headers=xff("203.0.113.9")))


async def test_garbage_forwarded_for_is_handled(make_client: ClientFactory, make_user: Any) -> None:
    user = await make_user()
    async with make_client(**TRUSTED) as client:
        for header in (
            "not-an-ip",
            "1.2.3.4.5",
            "::::",
            "a" * 2000,
            "127.0.0.1, " * 200,
            "",
            "999.1.1.1",
            "[::1]:80",
            "unknown",
        ):
            response = await login(
                client, user.email, headers={"X-Forwarded-For": header, "X-Real-IP": header}
            )
            assert response.status_code in (200, 400), (
                header[:40],
                response.status_code,
                response.text[:200],
            )


async def test_password_reset_request_limits_still_answer_202(
    make_client: ClientFactory, make_user: Any, mailbox: Mailbox, smtp: dict[str, Any]
) -> None:
    user = await make_user(email="resetme@example.com")
    async with make_client(**smtp) as client:
        answers = [
            await client.post("/auth/password-reset/request", json={"email": user.email}) for _ in range(7)
        ]
        assert [a.status_code for a in answers] == [202] * 7, [a.text for a in answers]
        assert len({a.content for a in answers}) == 1
        assert len({tuple(sorted(comparable_headers(a).items())) for a in answers}) == 1
        await mailbox.wait_for(user.email, 5)
        await asyncio.sleep(0.5)
        assert len(mailbox.to(user.email)) == 5, "identity.md: 5 / hour per email (still 202, no mail)"


async def test_password_reset_per_ip_limit_does_not_reveal_accounts(
    make_client: ClientFactory, make_user: Any, mailbox: Mailbox, smtp: dict[str, Any]
) -> None:
    user = await make_user(email="victim@example.com")
    async with make_client(**smtp) as client:
        for i in range(20):
            response = await client.post(
                "/auth/password-reset/request", json={"email": f"probe{i}@example.com"}
            )
            assert response.status_code == 202
        known = await client.post("/auth/password-reset/request", json={"email": user.email})
        unknown = await client.post("/auth/password-reset/request", json={"email": "probe-x@example.com"})
        assert known.status_code == unknown.status_code and known.content == unknown.content
        await asyncio.sleep(0.5)
        assert mailbox.to(user.email) == [], "identity.md: reset request 20 / hour per IP"


async def test_reset_confirm_is_limited_per_ip(client: httpx.AsyncClient) -> None:
    for i in range(10):
        response = await client.post(
            "/auth/password-reset/confirm",
            json={"token": f"guess-{i}-" + "0" * 40, "new_password": STRONG_PASSWORD},
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_token"
    assert_limited(
        await client.post(
            "/auth/password-reset/confirm",
            json={"token": "guess-final-" + "0" * 40, "new_password": STRONG_PASSWORD},
        )
    )


async def test_register_is_limited_per_ip(client: httpx.AsyncClient) -> None:
    for i in range(10):
        response = await client.post(
            "/auth/register", json={"email": f"bulk{i}@example.com", "password": STRONG_PASSWORD}
        )
        client.cookies.clear()
        assert response.status_code == 201, response.text
    assert_limited(
        await client.post("/auth/register", json={"email": "bulk10@example.com", "password": STRONG_PASSWORD})
    )


async def test_refresh_is_limited_per_session(make_client: ClientFactory, make_user: Any) -> None:
    user = await make_user()
    async with make_client(refresh_limit_session="3/minute") as client:
        tokens = await login_ok(client, user.email)
        token = tokens.refresh
        for _ in range(3):
            response = await refresh_json(client, token)
            assert response.status_code == 200, response.text
            token = response.json()["refresh_token"]
        assert_limited(await refresh_json(client, token))


async def test_login_alias_shares_the_counters(client: httpx.AsyncClient, make_user: Any) -> None:
    # identity.md: "Same counters for JSON and form logins and for every login alias."
    paths = (await client.get("/openapi.json")).json()["paths"]
    if "/api/login" not in paths:
        pytest.skip("no /api/login alias in this deployment (timetracker disabled)")
    user = await make_user()
    for i in range(3):
        await login(client, user.email, f"wrong {i}")
    for i in range(2):
        response = await client.post(
            "/api/login", json={"username": user.email, "password": f"alias wrong {i}"}
        )
        assert response.status_code == 401, response.text
    assert_limited(
        await client.post("/api/login", json={"username": user.email, "password": DEFAULT_PASSWORD})
    )
    assert_limited(await login(client, user.email))


async def test_current_password_checks_are_limited_too(client: httpx.AsyncClient, make_user: Any) -> None:
    # Beyond the listed limits: with a stolen access token, every call that checks the current
    # password is a guessing oracle (ASVS V6.3.1). identity.md guards email changes by
    # re-authentication ("Never ... email without re-authentication"), which the stricter reading
    # limits like the password change.
    user = await make_user()
    tokens = await login_ok(client, user.email)
    for i in range(5):
        response = await client.post(
            "/auth/password/change",
            headers=tokens.headers,
            json={"current_password": f"wrong {i}", "new_password": STRONG_PASSWORD},
        )
        assert response.status_code == 400, response.text
    assert_limited(
        await client.post(
            "/auth/password/change",
            headers=tokens.headers,
            json={"current_password": DEFAULT_PASSWORD, "new_password": STRONG_PASSWORD},
        )
    )

    other = await make_user()
    theirs = await login_ok(client, other.email)
    statuses = []
    for i in range(5):
        response = await client.patch(
            "/auth/me",
            headers=theirs.headers,
            json={"email": "moved@example.com", "current_password": f"wrong {i}"},
        )
        statuses.append(response.status_code)
    assert 200 not in statuses, statuses
    response = await client.patch(
        "/auth/me",
        headers=theirs.headers,
        json={"email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
    )
    assert_limited(response)
