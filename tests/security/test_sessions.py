"""Sessions: refresh rotation and reuse, revocation, lifetimes, cookies (ASVS V7, identity.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import time_machine

from tests.security.helpers import (
    COOKIE_HTTP,
    COOKIE_HTTPS,
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    STRONG_PASSWORD,
    assert_bearer_401,
    bearer,
    cookie_header,
    events,
    items_of,
    login,
    login_ok,
    me_status,
    refresh_cookie,
    refresh_json,
    refresh_ok,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
REFRESH_MAX_AGE = 14 * 86400  # settings default refresh_token_days=14


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    first = await login_ok(client, user.email)
    second = await refresh_ok(client, first.refresh)
    assert second.refresh != first.refresh and second.access != first.access
    assert second.sid == first.sid  # the family is the session
    third = await refresh_ok(client, second.refresh)
    assert await me_status(client, third.access) == 200

    # Replaying an already rotated token: refused, and the family dies with it.
    replay = await refresh_json(client, first.refresh)
    assert replay.status_code == 401, replay.text
    assert (await refresh_json(client, third.refresh)).status_code == 401, (
        "newest token of the family survived"
    )
    for access in (first.access, second.access, third.access):
        assert_bearer_401(await client.get("/auth/me", headers=bearer(access)))

    reuse = await events(client, admin_headers, event_type="refresh_reuse_detected")
    assert [e for e in reuse if e["user_id"] == user.id], reuse
    # Other sessions of the user are not part of the family.
    other = await login_ok(client, user.email)
    assert await me_status(client, other.access) == 200


async def test_concurrent_refresh_with_one_token_succeeds_once(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    responses = await asyncio.gather(*(refresh_json(client, tokens.refresh) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert all(400 <= s < 500 for s in statuses if s != 200), statuses


async def test_unknown_and_malformed_refresh_tokens_are_refused(client: httpx.AsyncClient) -> None:
    for token in ("x" * 43, "", "a.b.c", "\u0000" * 10, "' OR '1'='1"):
        response = await refresh_json(client, token)
        assert response.status_code in (400, 401, 422), (token, response.status_code, response.text)
    response = await client.post("/auth/refresh")
    assert response.status_code in (400, 401, 422), response.text


async def test_refresh_token_has_at_least_256_bits(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    tokens = {(await login_ok(client, user.email)).refresh for _ in range(3)}
    assert len(tokens) == 3
    # 256 random bits need at least 43 base64url characters (or 64 hex).
    assert all(len(t) >= 43 for t in tokens), tokens


async def test_logout_ends_the_access_token_at_once(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    other = await login_ok(client, user.email)
    response = await client.post("/auth/logout", headers=tokens.headers)
    assert response.status_code == 200, response.text
    assert "detail" in response.json()
    assert_bearer_401(await client.get("/auth/me", headers=tokens.headers))
    assert (await refresh_json(client, tokens.refresh)).status_code == 401
    # Only this session ended.
    assert await me_status(client, other.access) == 200
    assert (await refresh_json(client, other.refresh)).status_code == 200


async def test_cookie_logout_ends_the_cookie_session_and_clears_the_cookie(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    response = await login(client, user.email, native=False)
    assert response.status_code == 200, response.text
    access = response.json()["access_token"]
    cookie = refresh_cookie(response)
    assert cookie is not None
    logout = await client.post("/auth/logout", headers={**bearer(access), **cookie_header(cookie.value)})
    client.cookies.clear()
    assert logout.status_code == 200, logout.text
    cleared = refresh_cookie(logout)
    assert cleared is not None and cleared.cleared, logout.headers.get_list("set-cookie")
    assert cleared.attrs.get("path") == "/auth"  # otherwise the browser keeps the real cookie
    assert_bearer_401(await client.get("/auth/me", headers=bearer(access)))
    replay = await client.post("/auth/refresh", headers=cookie_header(cookie.value))
    assert replay.status_code == 401, replay.text


async def test_logout_all_ends_every_session(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    sessions = [await login_ok(client, user.email) for _ in range(3)]
    bystander = await make_user()
    theirs = await login_ok(client, bystander.email)
    response = await client.post("/auth/logout-all", headers=sessions[0].headers)
    assert response.status_code == 200, response.text
    for tokens in sessions:
        assert_bearer_401(await client.get("/auth/me", headers=tokens.headers))
        assert (await refresh_json(client, tokens.refresh)).status_code == 401
    assert await me_status(client, theirs.access) == 200


async def test_password_change_ends_other_sessions_and_keeps_the_callers(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    mine = await login_ok(client, user.email)
    other = await login_ok(client, user.email)

    wrong = await client.post(
        "/auth/password/change",
        headers=mine.headers,
        json={"current_password": "not my password", "new_password": STRONG_PASSWORD},
    )
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["code"] == "invalid_credentials"
    assert await me_status(client, other.access) == 200  # a failed change revokes nothing

    response = await client.post(
        "/auth/password/change",
        headers=mine.headers,
        json={"current_password": DEFAULT_PASSWORD, "new_password": STRONG_PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert_bearer_401(await client.get("/auth/me", headers=other.headers))
    assert (await refresh_json(client, other.refresh)).status_code == 401
    assert await me_status(client, mine.access) == 200
    assert (await refresh_json(client, mine.refresh)).status_code == 200

    assert (await login(client, user.email, DEFAULT_PASSWORD)).status_code == 401
    assert (await login(client, user.email, STRONG_PASSWORD)).status_code == 200


async def test_admin_deactivation_ends_sessions_and_login_looks_like_a_wrong_password(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    wrong_password = await login(client, user.email, "definitely wrong password")
    assert wrong_password.status_code == 401

    response = await client.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code == 200, response.text
    assert response.json()["is_active"] is False
    assert_bearer_401(await client.get("/auth/me", headers=tokens.headers))
    assert (await refresh_json(client, tokens.refresh)).status_code == 401

    inactive = await login(client, user.email, DEFAULT_PASSWORD)
    assert inactive.status_code == 401
    assert inactive.json() == wrong_password.json() == INVALID_CREDENTIALS


async def test_session_has_an_absolute_lifetime(client: httpx.AsyncClient, make_user: Any) -> None:
    # Defaults: refresh token 14 days (sliding with each refresh), session absolute 30 days.
    user = await make_user()
    start = dt.datetime.now(dt.UTC)
    tokens = await login_ok(client, user.email)
    for days in (10, 20, 29):
        with time_machine.travel(start + dt.timedelta(days=days), tick=False):
            tokens = await refresh_ok(client, tokens.refresh)
    with time_machine.travel(start + dt.timedelta(days=30, hours=1), tick=False):
        response = await refresh_json(client, tokens.refresh)
        assert response.status_code == 401, response.text


async def test_unused_refresh_token_expires(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    start = dt.datetime.now(dt.UTC)
    tokens = await login_ok(client, user.email)
    with time_machine.travel(start + dt.timedelta(days=14, hours=1), tick=False):
        assert (await refresh_json(client, tokens.refresh)).status_code == 401


async def test_sessions_are_listed_and_revoked_by_their_owner_only(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    alice, mallory = await make_user(), await make_user()
    a1 = await login_ok(client, alice.email, headers={"User-Agent": "alice-phone/1.0"})
    a2 = await login_ok(client, alice.email, headers={"User-Agent": "alice-laptop/2.0"})
    m1 = await login_ok(client, mallory.email)

    listing = await client.get("/auth/sessions", headers=a1.headers)
    assert listing.status_code == 200, listing.text
    sessions = items_of(listing.json())
    ids = {str(s["id"]) for s in sessions}
    assert ids == {a1.sid, a2.sid}, sessions  # only alice's, each once
    assert {s.get("user_agent") for s in sessions} == {"alice-phone/1.0", "alice-laptop/2.0"}
    assert a1.refresh not in listing.text and a2.refresh not in listing.text

    # Mallory cannot revoke (or probe) alice's session: 404 as for an unknown id.
    stolen = await client.delete(f"/auth/sessions/{a2.sid}", headers=m1.headers)
    assert stolen.status_code == 404, stolen.text
    unknown = await client.delete("/auth/sessions/00000000-0000-0000-0000-000000000000", headers=m1.headers)
    assert unknown.status_code == 404
    assert stolen.json() == unknown.json()
    assert await me_status(client, a2.access) == 200

    revoked = await client.delete(f"/auth/sessions/{a2.sid}", headers=a1.headers)
    assert revoked.status_code in (200, 204), revoked.text
    assert_bearer_401(await client.get("/auth/me", headers=a2.headers))
    assert (await refresh_json(client, a2.refresh)).status_code == 401
    assert await me_status(client, a1.access) == 200
    remaining = items_of((await client.get("/auth/sessions", headers=a1.headers)).json())
    assert {str(s["id"]) for s in remaining} == {a1.sid}


async def test_refresh_token_is_never_taken_from_the_url(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    for params in ({"refresh_token": tokens.refresh}, {"token": tokens.refresh}):
        response = await client.post("/auth/refresh", params=params)
        assert response.status_code != 200, response.text
        response = await client.post("/auth/refresh", params=params, json={})
        assert response.status_code != 200, response.text
    # The token was not consumed by those attempts either.
    assert (await refresh_json(client, tokens.refresh)).status_code == 200


async def test_refresh_cookie_attributes_over_http(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    response = await login(client, user.email, native=False)
    assert response.status_code == 200
    cookie = refresh_cookie(response, COOKIE_HTTP)
    assert cookie is not None, response.headers.get_list("set-cookie")
    assert "httponly" in cookie.attrs
    assert cookie.attrs.get("samesite", "").lower() == "lax"
    assert cookie.attrs.get("path") == "/auth"
    assert cookie.attrs.get("max-age") == str(REFRESH_MAX_AGE)
    assert "domain" not in cookie.attrs  # host-only
    assert len(cookie.value) >= 43
    assert refresh_cookie(response, COOKIE_HTTPS) is None


async def test_refresh_cookie_attributes_over_https(make_client: ClientFactory, make_user: Any) -> None:
    user = await make_user()
    async with make_client(public_url="https://basis.example.com") as client:
        response = await login(client, user.email, native=False)
        assert response.status_code == 200, response.text
        cookie = refresh_cookie(response, COOKIE_HTTPS)
        assert cookie is not None, response.headers.get_list("set-cookie")
        assert refresh_cookie(response, COOKIE_HTTP) is None
        assert "secure" in cookie.attrs and "httponly" in cookie.attrs
        assert cookie.attrs.get("samesite", "").lower() == "lax"
        assert cookie.attrs.get("path") == "/auth"
        assert cookie.attrs.get("max-age") == str(REFRESH_MAX_AGE)
        assert "domain" not in cookie.attrs

        refreshed = await client.post("/auth/refresh", headers=cookie_header(cookie.value, COOKIE_HTTPS))
        client.cookies.clear()
        assert refreshed.status_code == 200, refreshed.text
        rotated = refresh_cookie(refreshed, COOKIE_HTTPS)
        assert rotated is not None and rotated.value != cookie.value
        assert "secure" in rotated.attrs and "httponly" in rotated.attrs
        assert rotated.attrs.get("path") == "/auth"


async def test_login_never_keeps_a_planted_refresh_cookie(client: httpx.AsyncClient, make_user: Any) -> None:
    # Session fixation (ASVS V7.2.4): a login issues a fresh session whatever cookie came with it.
    attacker, victim = await make_user(), await make_user()
    planted = refresh_cookie(await login(client, attacker.email, native=False))
    assert planted is not None
    response = await client.post(
        "/auth/login",
        json={"email": victim.email, "password": DEFAULT_PASSWORD},
        headers=cookie_header(planted.value),
    )
    client.cookies.clear()
    assert response.status_code == 200
    issued = refresh_cookie(response)
    assert issued is not None and issued.value != planted.value
    # The planted cookie still belongs to the attacker's session, never to the victim's.
    refreshed = await client.post("/auth/refresh", headers=cookie_header(planted.value))
    client.cookies.clear()
    if refreshed.status_code == 200:
        me = await client.get("/auth/me", headers=bearer(refreshed.json()["access_token"]))
        assert me.json()["id"] == attacker.id


async def test_refresh_via_cookie_answers_with_a_cookie_only(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    response = await login(client, user.email, native=False)
    cookie = refresh_cookie(response)
    assert cookie is not None
    refreshed = await client.post("/auth/refresh", headers=cookie_header(cookie.value))
    client.cookies.clear()
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body.get("access_token")
    assert body.get("refresh_token") is None, body  # identity.md Details: "as a cookie only"
    new_cookie = refresh_cookie(refreshed)
    assert new_cookie is not None and new_cookie.value != cookie.value
    assert new_cookie.value not in refreshed.text
    assert "httponly" in new_cookie.attrs and new_cookie.attrs.get("path") == "/auth"
    assert refreshed.headers.get("cache-control", "").lower().find("no-store") >= 0


async def test_refresh_via_json_answers_in_the_body_only(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    refreshed = await refresh_json(client, tokens.refresh)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json().get("refresh_token")
    # identity.md Details: "a call that sent JSON {refresh_token} gets it in the body only".
    assert refresh_cookie(refreshed) is None, refreshed.headers.get_list("set-cookie")
    assert refresh_cookie(refreshed, COOKIE_HTTPS) is None


async def test_login_puts_the_refresh_token_in_the_body_only_for_native_json(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    user = await make_user()
    web = await login(client, user.email, native=False)
    assert web.status_code == 200
    assert web.json().get("refresh_token") is None, web.json()
    assert refresh_cookie(web) is not None
    assert web.json()["token_type"] == "bearer" and web.json()["role"] == "user"
    assert web.json()["expires_in"] == 15 * 60

    native = await login(client, user.email, native=True)
    assert native.status_code == 200
    assert native.json().get("refresh_token")

    # identity.md Details: "never ... unless the JSON body said "client": "native"" -- a form
    # field of that name does not count.
    form = await client.post(
        "/auth/login", data={"username": user.email, "password": DEFAULT_PASSWORD, "client": "native"}
    )
    client.cookies.clear()
    assert form.status_code == 200, form.text
    assert form.json().get("refresh_token") is None, form.json()
    assert refresh_cookie(form) is not None

    for variant in ("NATIVE", "web", True, ["native"]):
        response = await client.post(
            "/auth/login", json={"email": user.email, "password": DEFAULT_PASSWORD, "client": variant}
        )
        client.cookies.clear()
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            assert response.json().get("refresh_token") is None, (variant, response.json())


async def test_form_login_accepts_email_or_username(client: httpx.AsyncClient, make_user: Any) -> None:
    # identity.md: "form-encoded (email= or username=, password=)".
    user = await make_user(username="formuser", email="formuser@example.com")
    for field_name, identifier in (("email", user.email), ("username", user.email), ("username", "formuser")):
        response = await client.post(
            "/auth/login", data={field_name: identifier, "password": DEFAULT_PASSWORD}
        )
        client.cookies.clear()
        assert response.status_code == 200, (field_name, response.text)
        assert response.json()["access_token"]


async def test_register_logs_in_with_a_cookie_not_a_body_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": "newbie@example.com", "password": STRONG_PASSWORD}
    )
    client.cookies.clear()
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.get("refresh_token") is None, body
    assert refresh_cookie(response) is not None
    assert await me_status(client, body["access_token"]) == 200


async def test_native_refresh_token_cannot_be_used_after_logout_all_via_cookie(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    # A cookie session and a native session of one user are both ended by logout-all.
    user = await make_user()
    web = await login(client, user.email, native=False)
    cookie = refresh_cookie(web)
    assert cookie is not None
    native = await login_ok(client, user.email)
    assert (await client.post("/auth/logout-all", headers=native.headers)).status_code == 200
    assert (await client.post("/auth/refresh", headers=cookie_header(cookie.value))).status_code == 401
    client.cookies.clear()
    assert_bearer_401(await client.get("/auth/me", headers=bearer(web.json()["access_token"])))


async def test_logout_all_without_credentials_is_refused(client: httpx.AsyncClient) -> None:
    assert_bearer_401(await client.post("/auth/logout-all"))
    response = await client.post("/auth/logout")  # nothing to end: any answer but an error
    assert response.status_code < 500, response.text
