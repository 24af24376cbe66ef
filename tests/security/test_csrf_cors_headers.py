"""CSRF on cookie calls, CORS, and the security headers of every response (ASVS V3/V4)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.security.helpers import (
    DEFAULT_PASSWORD,
    STRONG_PASSWORD,
    bearer,
    cookie_header,
    login,
    login_ok,
    refresh_cookie,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
ALLOWED = "https://app.example.com"
FOREIGN = "https://evil.example.net"


async def web_login(client: httpx.AsyncClient, email: str) -> tuple[str, str]:
    response = await login(client, email, native=False)
    assert response.status_code == 200, response.text
    cookie = refresh_cookie(response)
    assert cookie is not None
    return response.json()["access_token"], cookie.value


async def cookie_refresh(client: httpx.AsyncClient, cookie: str, origin: str | None) -> httpx.Response:
    headers = cookie_header(cookie)
    if origin is not None:
        headers["Origin"] = origin
    response = await client.post("/auth/refresh", headers=headers)
    client.cookies.clear()
    return response


FOREIGN_ORIGINS = [
    FOREIGN,
    "null",
    "https://app.example.com.evil.net",
    "http://app.example.com",
    "https://evil.example.net/https://app.example.com",
    "http://testserver:8080",
    "https://APP.example.com.evil.net",
    "http://testserver.evil.net",
]


async def test_cookie_refresh_with_a_foreign_origin_is_refused_and_not_used_up(
    make_client: ClientFactory, make_user: Any
) -> None:
    user = await make_user()
    failures = []
    async with make_client(cors_origins=[ALLOWED]) as client:
        _access, cookie = await web_login(client, user.email)
        for origin in FOREIGN_ORIGINS:
            refused = await cookie_refresh(client, cookie, origin)
            rotated = refresh_cookie(refused)
            if refused.status_code != 403 or "access_token" in refused.text:
                failures.append(f"{origin}: {refused.status_code}")
            if rotated is not None and rotated.value not in ("", '""'):
                cookie = rotated.value  # keep the session usable to test the next origin
        # identity.md Details: "... refused with 403 and the cookie is not used up".
        later = await cookie_refresh(client, cookie, None)
        assert later.status_code == 200, later.text
    assert failures == []


async def test_cookie_refresh_from_allowed_public_or_no_origin_works(
    make_client: ClientFactory, make_user: Any
) -> None:
    user = await make_user()
    async with make_client(cors_origins=[ALLOWED]) as client:
        _access, cookie = await web_login(client, user.email)
        for origin in (ALLOWED, "http://testserver", None):  # the public URL's origin is allowed too
            response = await cookie_refresh(client, cookie, origin)
            assert response.status_code == 200, (origin, response.text)
            new_cookie = refresh_cookie(response)
            assert new_cookie is not None
            cookie = new_cookie.value


async def test_cookie_logout_with_a_foreign_origin_is_refused(
    make_client: ClientFactory, make_user: Any
) -> None:
    user = await make_user()
    async with make_client(cors_origins=[ALLOWED]) as client:
        access, cookie = await web_login(client, user.email)
        refused = await client.post("/auth/logout", headers={**cookie_header(cookie), "Origin": FOREIGN})
        client.cookies.clear()
        assert refused.status_code == 403, refused.text
        assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200
        assert (await cookie_refresh(client, cookie, None)).status_code == 200


async def test_login_from_a_foreign_origin_plants_no_cookie(
    make_client: ClientFactory, make_user: Any
) -> None:
    # Login CSRF: a foreign page posting the attacker's credentials would plant the attacker's
    # refresh cookie in the victim's browser. identity.md Details: "a present `Origin` that is
    # not in BASIS_CORS_ORIGINS (or the public URL's origin) is refused with 403".
    user = await make_user()
    async with make_client(cors_origins=[ALLOWED]) as client:
        attempts = [
            await client.post(
                "/auth/login",
                data={"username": user.email, "password": DEFAULT_PASSWORD},
                headers={"Origin": FOREIGN},
            ),
            await client.post(
                "/auth/login",
                json={"email": user.email, "password": DEFAULT_PASSWORD},
                headers={"Origin": FOREIGN},
            ),
            await client.post(
                "/auth/register",
                json={"email": "csrf-reg@example.com", "password": STRONG_PASSWORD},
                headers={"Origin": FOREIGN},
            ),
        ]
        client.cookies.clear()
        for response in attempts:
            assert response.status_code == 403, (response.request.url.path, response.status_code)
            assert refresh_cookie(response) is None
        allowed = await client.post(
            "/auth/login",
            data={"username": user.email, "password": DEFAULT_PASSWORD},
            headers={"Origin": ALLOWED},
        )
        client.cookies.clear()
        assert allowed.status_code == 200 and refresh_cookie(allowed) is not None


async def test_cors_preflight_from_a_foreign_origin_gets_no_allow_origin(make_client: ClientFactory) -> None:
    async with make_client(cors_origins=[ALLOWED]) as client:
        for path in ("/auth/refresh", "/auth/login", "/auth/me", "/users"):
            response = await client.options(
                path,
                headers={
                    "Origin": FOREIGN,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type,authorization",
                },
            )
            assert "access-control-allow-origin" not in response.headers, (path, dict(response.headers))

        allowed = await client.options(
            "/auth/refresh", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
        )
        assert allowed.headers.get("access-control-allow-origin") == ALLOWED
        assert allowed.headers.get("access-control-allow-credentials") == "true"


async def test_cors_never_answers_wildcard_or_reflects_a_foreign_origin(
    make_client: ClientFactory, make_user: Any
) -> None:
    user = await make_user()
    async with make_client(cors_origins=[ALLOWED]) as client:
        tokens = await login_ok(client, user.email)
        for origin in (FOREIGN, "null", ALLOWED):
            response = await client.get("/auth/me", headers={**tokens.headers, "Origin": origin})
            acao = response.headers.get("access-control-allow-origin")
            assert acao != "*"
            assert acao == (ALLOWED if origin == ALLOWED else None), (origin, acao)
    async with make_client() as client:  # no CORS origins configured at all
        response = await client.get("/health", headers={"Origin": FOREIGN})
        assert "access-control-allow-origin" not in response.headers


def test_wildcard_cors_with_credentials_is_refused_at_start(make_settings: Callable[..., Any]) -> None:
    for origins in (["*"], [ALLOWED, "*"], "*", f"{ALLOWED},*"):
        with pytest.raises(ValidationError):
            make_settings(cors_origins=origins)


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert headers.get("x-content-type-options") == "nosniff", where
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert headers.get("referrer-policy") in (
        "no-referrer",
        "strict-origin-when-cross-origin",
        "same-origin",
        "strict-origin",
    ), where
    assert "server" not in headers, (where, headers.get("server"))
    assert "x-powered-by" not in headers, where


async def test_security_headers_on_every_kind_of_response(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    responses = [
        await client.get("/health"),
        await client.get("/auth/me"),
        await client.get("/no/such/route"),
        await client.post("/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}),
        await login(client, user.email, "wrong password"),
        await login(client, user.email),
        await client.post("/auth/password-reset/request", json={"email": "x@example.com"}),
        await client.options("/auth/login"),
        await client.get("/docs"),
        await client.get("/openapi.json"),
        await client.get("/admin/login"),
        await client.post(
            "/auth/login", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}
        ),
    ]
    for response in responses:
        assert_security_headers(response)


async def test_token_responses_are_not_cached(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    ok = await login(client, user.email)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": ok.json()["refresh_token"]})
    registered = await client.post(
        "/auth/register", json={"email": "cache@example.com", "password": STRONG_PASSWORD}
    )
    client.cookies.clear()
    assert registered.status_code == 201 and refreshed.status_code == 200
    for response in (ok, refreshed, registered):
        assert "no-store" in response.headers.get("cache-control", ""), (
            response.request.url.path,
            response.status_code,
            response.headers.get("cache-control"),
        )


async def test_hsts_only_over_https(make_client: ClientFactory) -> None:
    async with make_client() as client:
        assert "strict-transport-security" not in (await client.get("/health")).headers
    async with make_client(public_url="https://basis.example.com") as client:
        for path in ("/health", "/auth/me", "/nowhere"):
            response = await client.get(path)
            # identity.md Details: "HSTS (HTTPS only): `max-age=31536000; includeSubDomains`".
            assert response.headers.get("strict-transport-security") == "max-age=31536000; includeSubDomains"


async def test_errors_carry_no_stack_trace(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post(
            "/auth/login", content=b"\xff\xfe\x00garbage", headers={"Content-Type": "application/json"}
        ),
        await client.post(
            "/auth/login",
            content=b"password=x&username",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        await client.post(
            "/auth/login", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"}
        ),
    ):
        assert 400 <= response.status_code < 500, response.text
        assert "Traceback" not in response.text and 'File "' not in response.text
        assert set(response.json()) >= {"detail", "code"}
