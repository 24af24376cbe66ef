"""Password policy: length bounds, common passwords, no truncation, unicode (ASVS V6.2)."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from tests.security.helpers import DEFAULT_PASSWORD, login

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
_numbers = itertools.count(1)


def varied(length: int, seed: str = "basis") -> str:
    """A non-repetitive, non-dictionary password of exactly ``length`` ASCII characters."""
    out = ""
    block = seed.encode()
    while len(out) < length:
        block = hashlib.sha512(block).digest()
        out += base64.b64encode(block).decode()
    return out[:length]


@pytest.fixture
async def open_client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(rate_limits_enabled=False) as client:
        yield client


async def register(client: httpx.AsyncClient, password: str) -> tuple[str, httpx.Response]:
    email = f"policy{next(_numbers)}@example.com"
    response = await client.post("/auth/register", json={"email": email, "password": password})
    client.cookies.clear()
    assert response.status_code < 500, response.text
    return email, response


async def test_shorter_than_8_characters_is_refused(open_client: httpx.AsyncClient) -> None:
    failures = []
    for password in ("", "a", "Ab3$xyz", "\u00e9" * 7, "\U0001f510" * 7):
        _email, response = await register(open_client, password)
        if response.status_code != 422 or response.json().get("code") != "validation_error":
            failures.append(f"{len(password)} chars: {response.status_code}")
    assert failures == []


async def test_8_to_1024_bytes_with_no_composition_rules_is_accepted(open_client: httpx.AsyncClient) -> None:
    failures = []
    for password in (
        "Zq8#vL2m",
        "plum vanish",
        "alllowercaseletters",
        varied(64),
        varied(65),
        varied(200),
        varied(1024),
        "\u00e9" * 2 + varied(1020),
    ):
        email, response = await register(open_client, password)
        if response.status_code != 201:
            failures.append(
                f"{len(password.encode())} bytes: register {response.status_code} {response.text[:120]}"
            )
        elif (await login(open_client, email, password)).status_code != 200:
            failures.append(f"{len(password.encode())} bytes: login refused")
    assert failures == []


async def test_more_than_1024_bytes_is_refused_with_422(open_client: httpx.AsyncClient) -> None:
    # identity.md: "input length capped (e.g. 1024 bytes)": bytes, so 1009 characters of which
    # 9 are euro signs (1027 UTF-8 bytes) are over the cap.
    failures = []
    for password in (
        varied(1025),
        varied(100_000),
        varied(1000) + "\u20ac" * 9,
        varied(300) + "\U0001f510" * 190,
    ):
        size = f"{len(password)} chars/{len(password.encode())} bytes"
        _email, response = await register(open_client, password)
        if response.status_code != 422:
            failures.append(f"register {size}: {response.status_code}")
        for path, body in (
            ("/auth/login", {"email": "a@example.com", "password": password}),
            ("/auth/password-reset/confirm", {"token": "t" * 40, "new_password": password}),
        ):
            answer = await open_client.post(path, json=body)
            if answer.status_code not in (400, 401, 422):
                failures.append(f"{path} {size}: {answer.status_code}")
    assert failures == []


async def test_common_passwords_are_refused(open_client: httpx.AsyncClient) -> None:
    accepted = []
    for password in ("password", "12345678", "123456789", "qwertyuiop", "iloveyou", "password1", "11111111"):
        _email, response = await register(open_client, password)
        if response.status_code != 422:
            accepted.append(f"{password}: {response.status_code}")
    assert accepted == []


async def test_no_truncation_at_bcrypt_72_bytes(open_client: httpx.AsyncClient) -> None:
    stem = varied(72)
    email, response = await register(open_client, stem + "-the-real-ending")
    assert response.status_code == 201, response.text
    for attempt in (stem, stem + "-another-ending", stem + "-the-real-endinG"):
        assert (await login(open_client, email, attempt)).status_code == 401, attempt
    assert (await login(open_client, email, stem + "-the-real-ending")).status_code == 200


async def test_unicode_passwords_work(open_client: httpx.AsyncClient) -> None:
    password = (
        "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144 "  # Polish
        "\u043f\u0430\u0440\u043e\u043b\u044c \U0001f510 \u5bc6\u7801"  # Russian, an emoji, Chinese
    )
    email, response = await register(open_client, password)
    assert response.status_code == 201, response.text
    assert (await login(open_client, email, password)).status_code == 200
    assert (await login(open_client, email, password.replace("\U0001f510", "?"))).status_code == 401
    form = await open_client.post("/auth/login", data={"username": email, "password": password})
    open_client.cookies.clear()
    assert form.status_code == 200, form.text


async def test_password_change_follows_the_same_policy(
    open_client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    response = await login(open_client, user.email)
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    for weak in ("short", "password", varied(1025)):
        answer = await open_client.post(
            "/auth/password/change",
            headers=headers,
            json={"current_password": DEFAULT_PASSWORD, "new_password": weak},
        )
        assert answer.status_code == 422, (weak, answer.text)
    assert (await login(open_client, user.email, DEFAULT_PASSWORD)).status_code == 200
