"""Hostile input on every /auth and /users route: always a clean 4xx, never a 5xx or a trace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from tests.security.helpers import STRONG_PASSWORD, login_ok

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

FIELDS = [
    "email",
    "username",
    "login",
    "password",
    "full_name",
    "phone",
    "client",
    "device",
    "refresh_token",
    "current_password",
    "new_password",
    "token",
    "role",
    "is_active",
]
LONG = "a" * 10_000
LONG_EMAIL = "b" * 10_000 + "@example.com"

RAW_BODIES: list[tuple[str, bytes, str]] = [
    ("truncated json", b'{"email": "a@example.com", "password": ', "application/json"),
    ("not json", b"hello", "application/json"),
    ("invalid utf-8", b'{"email": "\xff\xfe", "password": "\xc3"}', "application/json"),
    ("json array", b"[]", "application/json"),
    ("json null", b"null", "application/json"),
    ("json string", b'"email"', "application/json"),
    (
        "duplicate keys",
        b'{"email": "a@example.com", "email": {"$ne": null}, "password": "x"}',
        "application/json",
    ),
    ("form as json", b"email=a%40example.com&password=x", "application/json"),
    ("json as text", b'{"email": "a@example.com", "password": "secret phrase"}', "text/plain"),
    ("broken form", b"email=%ZZ&password=%", "application/x-www-form-urlencoded"),
    ("broken multipart", b"--b\r\nContent-Disposition: form-data\r\n\r\n", "multipart/form-data; boundary=b"),
    (
        "xml",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>",
        "application/xml",
    ),
    ("huge body", b'{"email": "' + b"a" * 2_100_000 + b'"}', "application/json"),
]


def json_bodies() -> list[tuple[str, Any]]:
    bodies: list[tuple[str, Any]] = [("empty object", {})]
    for label, value in (
        ("lists", ["x"]),
        ("objects", {"$gt": ""}),
        ("huge number", 1e308),
        ("booleans", True),
        ("nulls", None),
        ("negative", -1),
    ):
        bodies.append((f"every field {label}", dict.fromkeys(FIELDS, value)))
    bodies.append(
        (
            "null bytes",
            {f: "pa\x00ss-word-12345" for f in FIELDS} | {"email": "a\x00b@example.com", "is_active": True},
        )
    )
    # NUL in otherwise valid bodies: PostgreSQL refuses NUL in text, so it must be caught first.
    bodies.append(
        (
            "null byte in names",
            {
                "email": "nul@example.com",
                "password": STRONG_PASSWORD,
                "new_password": STRONG_PASSWORD,
                "current_password": STRONG_PASSWORD,
                "full_name": "Nul\x00Name",
                "phone": "+48\x00600",
                "role": "user",
            },
        )
    )
    bodies.append(("null byte in profile only", {"full_name": "Nul\x00Name", "phone": "+48\x00600"}))
    bodies.append(
        (
            "null byte in username",
            {
                "username": "nul\x00user",
                "password": STRONG_PASSWORD,
                "email": "nul2@example.com",
                "role": "user",
            },
        )
    )
    bodies.append(("null byte in login", {"login": "nul\x00user", "password": STRONG_PASSWORD}))
    bodies.append(
        (
            "null byte in device",
            {
                "email": "nul3@example.com",
                "password": "correct horse battery staple",
                "client": "native",
                "device": "pho\x00ne",
            },
        )
    )
    bodies.append(("very long strings", {f: LONG for f in FIELDS} | {"email": LONG_EMAIL, "is_active": True}))
    for size in (100, 151, 201, 255, 256, 321, 1000):
        bodies.append(
            (
                f"strings of {size}",
                {
                    "email": "c" * min(size, 60) + f"{size}@example.com",
                    "username": "u" * size,
                    "full_name": "n" * size,
                    "phone": "7" * size,
                    "device": "d" * size,
                    "password": STRONG_PASSWORD,
                    "new_password": STRONG_PASSWORD,
                    "current_password": STRONG_PASSWORD,
                    "role": "user",
                },
            )
        )
    bodies.append(("unicode", {f: "\U0001f600\u202e\ufeff\u0000\ud7ff" for f in FIELDS}))
    bodies.append(("sql-ish", {f: "' OR 1=1; DROP TABLE users; --" for f in FIELDS} | {"is_active": True}))
    return bodies


ROUTES: list[tuple[str, str, str | None]] = [
    ("POST", "/auth/register", None),
    ("POST", "/auth/login", None),
    ("POST", "/auth/refresh", None),
    ("POST", "/auth/logout", "user"),
    ("PATCH", "/auth/me", "user"),
    ("POST", "/auth/password/change", "user"),
    ("POST", "/auth/password-reset/request", None),
    ("POST", "/auth/password-reset/confirm", None),
    ("POST", "/users", "admin"),
    ("PATCH", "/users/{id}", "admin"),
    ("POST", "/auth/logout-all", "user"),
]


@pytest.fixture
async def robust_client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(rate_limits_enabled=False) as client:
        yield client


@pytest.fixture
async def identities(robust_client: httpx.AsyncClient, make_user: Any) -> dict[str, Any]:
    user, admin = await make_user(), await make_user(role="admin")
    return {
        "user": user,
        "admin": admin,
        "user_token": (await login_ok(robust_client, user.email)).access,
        "admin_token": (await login_ok(robust_client, admin.email)).access,
    }


def problem(response: httpx.Response, what: str, *, allow_ok: bool = False) -> str | None:
    """What is wrong with the answer to hostile input, or None when it is a clean refusal."""
    allowed_ok = (200, 201, 202, 204) if allow_ok else ()
    if not (response.status_code in allowed_ok or 400 <= response.status_code < 500):
        return f"{what}: {response.status_code} {response.text[:160]}"
    if "Traceback" in response.text or 'File "/' in response.text:
        return f"{what}: stack trace in the body"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        body = response.json()
        if not ("detail" in body and "code" in body):
            return f"{what}: error body {body}"
    return None


def assert_clean_4xx(response: httpx.Response, what: str, *, allow_ok: bool = False) -> None:
    found = problem(response, what, allow_ok=allow_ok)
    assert found is None, found


@pytest.mark.parametrize(("method", "path", "who"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_hostile_bodies(
    robust_client: httpx.AsyncClient, identities: dict[str, Any], method: str, path: str, who: str | None
) -> None:
    headers = {"Authorization": f"Bearer {identities[f'{who}_token']}"} if who else {}
    url = path.format(id=identities["user"].id)
    problems = []
    for label, content, content_type in RAW_BODIES:
        response = await robust_client.request(
            method, url, content=content, headers={**headers, "Content-Type": content_type}
        )
        robust_client.cookies.clear()
        # A route without a body of its own (logout) may ignore the junk; never a 5xx.
        problems.append(problem(response, label, allow_ok=path.startswith("/auth/logout")))
    for label, body in json_bodies():
        content = json.dumps(body).encode()
        response = await robust_client.request(
            method, url, content=content, headers={**headers, "Content-Type": "application/json"}
        )
        robust_client.cookies.clear()
        problems.append(problem(response, label, allow_ok=True))
    bad = [p for p in problems if p]
    assert not bad, f"{method} {url}:\n" + "\n".join(bad)


# JSON that the parser accepts or chokes on in unusual ways. One route is enough: the body is
# parsed before any route code runs, so every JSON route shares the outcome.
EDGE_JSON = [
    ("deep array", b"[" * 100_000 + b"]" * 100_000),
    ("deep object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("overflowing number", b"1e999999"),
    ("NaN and Infinity", b'{"email": NaN, "password": Infinity}'),
    ("lone surrogates", b'{"email": "\\ud800@example.com", "password": "\\udfff\\ud800xxxxxxxx"}'),
]


@pytest.mark.parametrize(("label", "content"), EDGE_JSON, ids=[label for label, _ in EDGE_JSON])
async def test_json_parser_edge_cases_are_a_4xx(
    robust_client: httpx.AsyncClient, label: str, content: bytes
) -> None:
    response = await robust_client.post(
        "/auth/login", content=content, headers={"Content-Type": "application/json"}
    )
    assert_clean_4xx(response, f"POST /auth/login {label}")


@pytest.mark.parametrize("path", ["/users", "/auth/events", "/auth/events/counts", "/auth/sessions"])
async def test_hostile_query_strings(
    robust_client: httpx.AsyncClient, identities: dict[str, Any], path: str
) -> None:
    who = "user" if path == "/auth/sessions" else "admin"
    headers = {"Authorization": f"Bearer {identities[f'{who}_token']}"}
    cases = [
        {"limit": "abc"},
        {"limit": "-1"},
        {"limit": str(10**20)},
        {"limit": "1e3"},
        {"offset": "-5"},
        {"offset": str(10**20)},
        {"role": "superuser"},
        {"role": "\x00"},
        {"is_active": "maybe"},
        {"q": "\x00"},
        {"q": LONG},
        {"q": "%_\\"},
        {"q": "' OR 1=1 --"},
        {"from": "garbage"},
        {"to": "2024-13-45"},
        {"from": "9999-12-31T23:59:59Z"},
        {"from": "0001-01-01T00:00:00"},
        {"from": "2024-01-01T00:00:00+25:00"},
        {"user_id": "abc"},
        {"user_id": str(10**30)},
        {"user_id": "-1"},
        {"success": "perhaps"},
        {"event_type": "\x00"},
        {"event_type": LONG},
        {"limit": ["1", "2"]},
        {"sort": "password_hash"},
    ]
    problems = []
    for params in cases:
        response = await robust_client.get(path, params=params, headers=headers)
        problems.append(problem(response, f"{str(params)[:60]}", allow_ok=True))
    bad = [p for p in problems if p]
    assert not bad, f"GET {path}:\n" + "\n".join(bad)


async def test_hostile_path_parameters(robust_client: httpx.AsyncClient, identities: dict[str, Any]) -> None:
    admin = {"Authorization": f"Bearer {identities['admin_token']}"}
    user = {"Authorization": f"Bearer {identities['user_token']}"}
    problems = []
    for raw in (
        "abc",
        "-1",
        "0",
        "1.5",
        "99999999999999999999999",
        "%00",
        "1%00",
        "1;DROP",
        "%2e%2e",
        "1e5",
        "\u0661",
        "0x10",
    ):
        for method in ("GET", "PATCH"):
            response = await robust_client.request(
                method, f"/users/{raw}", json={"full_name": "x"}, headers=admin
            )
            problems.append(problem(response, f"{method} /users/{raw}"))
    for raw in (
        "abc",
        "%00",
        "a%00b",
        "x" * 5000,
        "..%2f..%2fusers",
        "-1",
        "00000000-0000-0000-0000-000000000000",
    ):
        response = await robust_client.delete(f"/auth/sessions/{raw}", headers=user)
        problems.append(problem(response, f"DELETE /auth/sessions/{raw[:40]}"))
    bad = [p for p in problems if p]
    assert not bad, "\n".join(bad)


async def test_hostile_headers(robust_client: httpx.AsyncClient, identities: dict[str, Any]) -> None:
    email = identities["user"].email
    for headers in (
        {"User-Agent": "u" * 8000},
        {"User-Agent": "\x7f\x01bot"},
        {"X-Request-ID": "r" * 5000},
        {"X-Request-ID": "a\tb"},
        {"Origin": "o" * 5000},
        {"Accept-Language": "x" * 5000},
    ):
        for body in (
            {"email": email, "password": STRONG_PASSWORD},
            {"email": email, "password": "correct horse battery staple", "device": "d" * 100},
        ):
            response = await robust_client.post("/auth/login", json=body, headers=headers)
            robust_client.cookies.clear()
            assert response.status_code in (200, 400, 401, 403, 422), (
                headers.keys(),
                response.status_code,
                response.text[:200],
            )
        response = await robust_client.post(
            "/auth/register",
            json={
                "email": f"hdr{len(str(headers))}{next(iter(headers))[:3]}@example.com",
                "password": STRONG_PASSWORD,
            },
            headers=headers,
        )
        robust_client.cookies.clear()
        assert response.status_code in (201, 400, 403, 409, 422), (headers.keys(), response.status_code)
