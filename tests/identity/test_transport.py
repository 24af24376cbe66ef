"""CSRF (Origin), CORS and security headers on the auth calls (identity.md "Details", "Transport")."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD, bearer, login

# HTTP-level behaviour that does not depend on the database: run once, on SQLite.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ALLOWED = "https://app.example.com"


async def test_cookie_refresh_from_a_foreign_origin_is_refused_and_keeps_the_cookie(
    make_client, make_user: MakeUser
) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="csrf@example.com")
    async with make_client(cors_origins=[ALLOWED]) as client:
        await login(client, "csrf@example.com")
        cookie = client.cookies["basis_refresh"]
        for origin in (
            "https://evil.example.net",
            "null",
            "https://app.example.com.evil.net",
            "http://app.example.com",
        ):
            response = await client.post("/auth/refresh", headers={"Origin": origin})
            assert response.status_code == 403, origin
            assert response.json()["code"] == "origin_not_allowed"
            assert client.cookies["basis_refresh"] == cookie
        # The cookie was not used up: the real app (allowed origin) and curl (no Origin) still refresh.
        assert (await client.post("/auth/refresh", headers={"Origin": ALLOWED})).status_code == 200
        assert (await client.post("/auth/refresh")).status_code == 200
        # The public URL's own origin is allowed too.
        assert (
            await client.post("/auth/refresh", headers={"Origin": "http://testserver"})
        ).status_code == 200


async def test_cookie_logout_from_a_foreign_origin_is_refused(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="csrf2@example.com")
    async with make_client(cors_origins=[ALLOWED]) as client:
        token = (await login(client, "csrf2@example.com")).json()["access_token"]
        assert (
            await client.post("/auth/logout", headers={"Origin": "https://evil.example.net"})
        ).status_code == 403
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 200
        assert (await client.post("/auth/logout", headers={"Origin": ALLOWED})).status_code == 200
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401


async def test_cross_site_login_form_is_refused(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    # Login CSRF: a foreign page must not sign the victim's browser into another account.
    await make_user(email="lcsrf@example.com")
    response = await client.post(
        "/auth/login",
        data={"email": "lcsrf@example.com", "password": PASSWORD},
        headers={"Origin": "https://evil.example.net"},
    )
    assert response.status_code == 403 and "set-cookie" not in response.headers


async def test_cors_allows_only_configured_origins_with_credentials(make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(cors_origins=[ALLOWED]) as client:
        preflight = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }
        ok = await client.options("/auth/refresh", headers={"Origin": ALLOWED, **preflight})
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert ok.headers["access-control-allow-credentials"] == "true"
        evil = await client.options(
            "/auth/refresh", headers={"Origin": "https://evil.example.net", **preflight}
        )
        assert evil.headers.get("access-control-allow-origin") in (None, "")


async def test_security_headers_and_no_server_banner(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="hdr@example.com")
    response = await login(client, "hdr@example.com")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers


async def test_hsts_under_https(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="hsts@example.com")
    async with make_client(public_url="https://basis.example.com") as client:
        response = await login(client, "hsts@example.com")
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_bad_tokens_get_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer abc.def.ghi"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = await client.get("/auth/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["code"] in ("not_authenticated", "invalid_token")


async def test_token_signed_with_another_deployments_key_is_refused(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="keys@example.com")
    async with make_client(jwt_secrets=["another-deployment-" + "Zx9!" * 8]) as other:
        token = (await login(other, "keys@example.com")).json()["access_token"]
    async with make_client() as client:
        assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401


async def test_key_rotation_keeps_sessions(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="rot@example.com")
    old = "old-key-" + "Qw7$" * 8
    new = "new-key-" + "Er5%" * 8
    async with make_client(jwt_secrets=[old]) as before:
        token = (await login(before, "rot@example.com")).json()["access_token"]
    async with make_client(jwt_secrets=[new, old]) as after:
        assert (await after.get("/auth/me", headers=bearer(token))).status_code == 200


BAD_BODIES = [
    b'{"email": "\\ud800@example.com", "password": "\\udfff\\ud800xxxxxxxx", "token": "\\ud800"}',
    b'{"email": NaN, "password": Infinity, "token": -Infinity}',
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b"[" * 20_000 + b"]" * 20_000,
    b'{"email": {"$ne": null}, "password": ["x"], "token": 1}',
    b'"just a string"',
    b"\xff\xfe\x00garbage",
]


async def test_hostile_json_bodies_get_a_4xx_never_a_500(client: httpx.AsyncClient) -> None:
    paths = [
        "/auth/login",
        "/auth/register",
        "/auth/refresh",
        "/auth/password-reset/request",
        "/auth/password-reset/confirm",
    ]
    for path in paths:
        for body in BAD_BODIES:
            response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
            assert 400 <= response.status_code < 500 or (
                path.endswith("request") and response.status_code == 202
            ), (path, body[:40], response.status_code, response.text[:200])
            assert response.status_code == 202 or response.json()["code"]
