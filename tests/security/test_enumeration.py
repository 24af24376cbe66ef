"""Account enumeration: login, reset and timing answers do not reveal who has an account."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from tests.security.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    STRONG_PASSWORD,
    comparable_headers,
    form_login,
    login,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def assert_same_answer(responses: dict[str, httpx.Response]) -> None:
    first_name, first = next(iter(responses.items()))
    for name, response in responses.items():
        assert response.status_code == first.status_code, (name, response.status_code, first_name)
        assert response.content == first.content, (name, response.text, first.text)
        assert comparable_headers(response) == comparable_headers(first), (name, first_name)


async def test_unknown_wrong_password_and_inactive_look_identical(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    active = await make_user(email="active@example.com", username="active_one")
    await make_user(email="inactive@example.com", username="inactive_one", is_active=False)
    json_answers = {
        "unknown email": await login(client, "nobody@example.com"),
        "wrong password": await login(client, active.email, "wrong password here"),
        "inactive, right password": await login(client, "inactive@example.com", DEFAULT_PASSWORD),
        "unknown username": await login(client, "nobody_here", field_name="username"),
        "username, wrong password": await login(
            client, "active_one", "wrong password", field_name="username"
        ),
        "inactive username": await login(client, "inactive_one", field_name="username"),
        "login field, unknown": await login(client, "ghost@example.com", field_name="login"),
        "web client, wrong password": await login(client, active.email, "wrong password 2", native=False),
    }
    assert_same_answer(json_answers)
    assert json_answers["unknown email"].status_code == 401
    assert json_answers["unknown email"].json() == INVALID_CREDENTIALS

    form_answers = {
        "form unknown": await form_login(client, "nobody@example.com"),
        "form wrong password": await form_login(client, active.email, "wrong password here"),
        "form inactive": await form_login(client, "inactive@example.com"),
    }
    assert_same_answer(form_answers)
    assert form_answers["form unknown"].json() == INVALID_CREDENTIALS


async def test_login_failure_timing_does_not_reveal_the_account(
    make_client: ClientFactory, make_user: Any
) -> None:
    # identity.md: "about the same time (hash a dummy password for unknown accounts)". The fast
    # hash profile keeps this quick; medians of 10 each must agree within a factor of 3.
    active = await make_user(email="timing-active@example.com")
    await make_user(email="timing-inactive@example.com", is_active=False)
    async with make_client(rate_limits_enabled=False) as client:
        for _ in range(3):  # warm up code paths and connection pools
            await login(client, "warmup@example.com")
            await login(client, active.email, "warm up wrong")

        cases = {
            "unknown": ("timing-nobody@example.com", "some password"),
            "wrong password": (active.email, "wrong password"),
            "inactive": ("timing-inactive@example.com", DEFAULT_PASSWORD),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(12):  # interleaved, so that drift (GC, disk, other tests) hits every case alike
            for name, (identifier, password) in cases.items():
                start = time.perf_counter()
                response = await login(client, identifier, password)
                samples[name].append(time.perf_counter() - start)
                assert response.status_code == 401
        timings = {name: statistics.median(values) for name, values in samples.items()}
    slowest, fastest = max(timings.values()), min(timings.values())
    assert slowest <= 3 * fastest, {k: f"{v * 1000:.2f} ms" for k, v in timings.items()}


async def test_password_reset_request_answers_the_same_for_every_email(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    await make_user(email="known@example.com")
    await make_user(email="sleeping@example.com", is_active=False)
    answers = {
        "known": await client.post("/auth/password-reset/request", json={"email": "known@example.com"}),
        "known, other case": await client.post(
            "/auth/password-reset/request", json={"email": "KNOWN@example.com"}
        ),
        "unknown": await client.post("/auth/password-reset/request", json={"email": "unknown@example.com"}),
        "inactive": await client.post("/auth/password-reset/request", json={"email": "sleeping@example.com"}),
    }
    assert answers["known"].status_code == 202, answers["known"].text
    assert_same_answer(answers)


async def test_duplicate_registration_is_a_conflict(client: httpx.AsyncClient, make_user: Any) -> None:
    # identity.md allows this disclosure: "Duplicate email/username (case-insensitive): 409".
    # The register endpoint is rate limited per IP (10/hour), which bounds its use as an oracle.
    await make_user(email="taken@example.com", username="TakenName")
    for body in (
        {"email": "taken@example.com"},
        {"email": "TAKEN@Example.COM"},
        {"email": "fresh1@example.com", "username": "takenname"},
    ):
        response = await client.post("/auth/register", json={**body, "password": STRONG_PASSWORD})
        client.cookies.clear()
        assert response.status_code == 409, (body, response.text)
