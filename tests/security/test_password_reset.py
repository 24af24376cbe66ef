"""Password reset through a real SMTP server: single use, expiry, supersession, revocation."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
import time_machine

from tests.security.helpers import (
    DEFAULT_PASSWORD,
    STRONG_PASSWORD,
    Mailbox,
    assert_bearer_401,
    events,
    login,
    login_ok,
    refresh_json,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
PUBLIC = "http://testserver"


@pytest.fixture
async def mail_client(make_client: ClientFactory, smtp: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(**smtp) as client:
        yield client


async def request_token(
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    email: str,
    *,
    public_url: str = PUBLIC,
    headers: dict[str, str] | None = None,
) -> str:
    before = len(mailbox.to(email))
    response = await client.post("/auth/password-reset/request", json={"email": email}, headers=headers)
    assert response.status_code == 202, response.text
    mails = await mailbox.wait_for(email, before + 1)
    return mails[-1].token(public_url)


async def confirm(client: httpx.AsyncClient, token: str, password: str = STRONG_PASSWORD) -> httpx.Response:
    return await client.post("/auth/password-reset/confirm", json={"token": token, "new_password": password})


def assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_token"


async def test_reset_token_is_single_use_under_concurrency(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: Any
) -> None:
    user = await make_user()
    token = await request_token(mail_client, mailbox, user.email)
    assert len(token) >= 22, "at least 128 random bits (ASVS V7.2.3)"
    first, second = await asyncio.gather(
        confirm(mail_client, token, "first new password 1"),
        confirm(mail_client, token, "second new password 2"),
    )
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 400], (first.text, second.text)
    loser = first if first.status_code == 400 else second
    assert loser.json()["code"] == "invalid_token"
    assert_invalid_token(await confirm(mail_client, token, "third new password 3"))
    winner = "first new password 1" if first.status_code == 200 else "second new password 2"
    assert (await login(mail_client, user.email, winner)).status_code == 200


async def test_reset_token_expires_after_30_minutes(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: Any
) -> None:
    user = await make_user()
    token = await request_token(mail_client, mailbox, user.email)
    issued = dt.datetime.now(dt.UTC)
    with time_machine.travel(issued + dt.timedelta(minutes=31), tick=False):
        assert_invalid_token(await confirm(mail_client, token))
    fresh = await request_token(mail_client, mailbox, user.email)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=28), tick=False):
        assert (await confirm(mail_client, fresh)).status_code == 200


async def test_newer_request_supersedes_the_older_token(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: Any
) -> None:
    user = await make_user()
    older = await request_token(mail_client, mailbox, user.email)
    newer = await request_token(mail_client, mailbox, user.email)
    assert older != newer
    assert_invalid_token(await confirm(mail_client, older))
    assert (await confirm(mail_client, newer)).status_code == 200


async def test_reset_revokes_every_session_and_changes_the_password(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: Any
) -> None:
    user = await make_user()
    sessions = [await login_ok(mail_client, user.email) for _ in range(2)]
    token = await request_token(mail_client, mailbox, user.email)
    response = await confirm(mail_client, token)
    assert response.status_code == 200, response.text
    assert "access_token" not in response.text
    for tokens in sessions:
        assert_bearer_401(await mail_client.get("/auth/me", headers=tokens.headers))
        assert (await refresh_json(mail_client, tokens.refresh)).status_code == 401
    assert (await login(mail_client, user.email, DEFAULT_PASSWORD)).status_code == 401
    assert (await login(mail_client, user.email, STRONG_PASSWORD)).status_code == 200


async def test_token_of_one_user_cannot_reset_another(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: Any
) -> None:
    alice, bob = await make_user(), await make_user()
    token = await request_token(mail_client, mailbox, alice.email)
    assert (await confirm(mail_client, token)).status_code == 200
    assert (await login(mail_client, bob.email, STRONG_PASSWORD)).status_code == 401
    assert (await login(mail_client, bob.email, DEFAULT_PASSWORD)).status_code == 200


async def test_reset_does_not_reactivate_a_deactivated_account(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    token = await request_token(mail_client, mailbox, user.email)
    response = await mail_client.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code == 200
    answer = await confirm(mail_client, token)
    assert answer.status_code in (200, 400), answer.text
    assert "access_token" not in answer.text
    assert (await login(mail_client, user.email, STRONG_PASSWORD)).status_code == 401
    assert (await mail_client.get(f"/users/{user.id}", headers=admin_headers)).json()["is_active"] is False


@pytest.mark.parametrize("token", ["", "x", "0" * 64, "' OR used = false --", "A" * 199, "\u00e9" * 50])
async def test_unknown_reset_tokens_are_refused(client: httpx.AsyncClient, token: str) -> None:
    response = await confirm(client, token)
    assert response.status_code in (400, 422), response.text
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_token"


async def test_mailed_link_uses_the_public_url_whatever_the_host_header(
    make_client: ClientFactory, mailbox: Mailbox, smtp: dict[str, Any], make_user: Any
) -> None:
    user = await make_user()
    public = "https://basis.example.com"
    async with make_client(public_url=public, trusted_proxies=["127.0.0.1"], **smtp) as client:
        # A Host the server does not serve is refused outright (issue 12.1); the forwarded
        # headers of a trusted proxy never make the link either.
        refused = await client.post(
            "/auth/password-reset/request", json={"email": user.email}, headers={"Host": "evil.example.net"}
        )
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_host"
        spoof = {
            "X-Forwarded-Host": "evil.example.net",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Server": "evil.example.net",
            "Forwarded": "host=evil.example.net",
        }
        token = await request_token(client, mailbox, user.email, public_url=public, headers=spoof)
        mail = mailbox.to(user.email)[-1]
        assert "evil.example.net" not in mail.text
        assert all(link.startswith(public + "/") for link in mail.links()), mail.links()
        assert (await confirm(client, token)).status_code == 200


async def test_raw_reset_token_never_reaches_audit_or_logs(
    mail_client: httpx.AsyncClient,
    mailbox: Mailbox,
    make_user: Any,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await make_user()
    token = await request_token(mail_client, mailbox, user.email)
    assert (await confirm(mail_client, token, "brand new secret phrase")).status_code == 200
    assert_invalid_token(await confirm(mail_client, token, "another secret phrase"))

    audit = await mail_client.get("/auth/events", params={"limit": 500}, headers=admin_headers)
    assert audit.status_code == 200
    kinds = {e["event_type"] for e in (await events(mail_client, admin_headers, user_id=user.id))}
    assert {"password_reset_requested", "password_reset_completed"} <= kinds, kinds
    assert token not in audit.text
    assert "brand new secret phrase" not in audit.text

    leaks = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in caplog.records
        if not r.name.startswith("mail.")  # mail.*: the test's own SMTP server
        and (token in r.getMessage() + repr(r.args) or "brand new secret phrase" in r.getMessage())
    ]
    assert not leaks, leaks
    captured = capsys.readouterr()
    for text in (captured.out, captured.err):
        assert token not in text
        assert "brand new secret phrase" not in text


async def test_login_password_never_reaches_audit_or_logs(
    client: httpx.AsyncClient,
    make_user: Any,
    admin_headers: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await make_user()
    secret = "my-Very-Distinct-Guess-77"
    assert (await login(client, user.email, secret)).status_code == 401
    assert (await login(client, "ghost@example.com", secret)).status_code == 401
    tokens = await login_ok(client, user.email)
    audit = await client.get("/auth/events", params={"limit": 500}, headers=admin_headers)
    assert audit.status_code == 200
    for text in (audit.text, caplog.text, *capsys.readouterr()):
        assert secret not in text
        assert DEFAULT_PASSWORD not in text
        assert tokens.refresh not in text
