"""Refresh rotation, reuse detection, logout and immediate revocation (identity.md "Tokens and sessions")."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import time_machine
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.identity.models import RefreshToken
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import OTHER_PASSWORD, PASSWORD, bearer, events, login


async def native_login(client: httpx.AsyncClient, email: str) -> dict:
    response = await login(client, email, client="native")
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return response.json()


async def test_cookie_refresh_rotates_and_answers_in_the_cookie_only(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="r@example.com")
    first = await login(client, "r@example.com")
    old_cookie = client.cookies["basis_refresh"]
    response = await client.post("/auth/refresh")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and body["token_type"] == "bearer" and body["access_token"]
    assert response.headers["cache-control"] == "no-store"
    new_cookie = client.cookies["basis_refresh"]
    assert new_cookie != old_cookie
    assert (await client.get("/auth/me", headers=bearer(body["access_token"]))).status_code == 200
    assert first.json()["access_token"] != body["access_token"]


async def test_json_refresh_answers_in_the_body_only(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="j@example.com")
    tokens = await native_login(client, "j@example.com")
    response = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    assert response.json()["refresh_token"] != tokens["refresh_token"]
    assert "set-cookie" not in response.headers


async def test_reuse_of_a_rotated_token_revokes_the_family(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="reuse@example.com")
    tokens = await native_login(client, "reuse@example.com")
    rotated = (await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    # The thief replays the old token: refused, and the legitimate holder's new one dies too.
    replay = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["code"] == "invalid_token"
    assert replay.headers["www-authenticate"].startswith("Bearer")
    assert (
        await client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    ).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(rotated["access_token"]))).status_code == 401
    kinds = [e["event_type"] for e in await events(client, admin_headers, user_id=user.id)]
    assert "refresh_reuse_detected" in kinds


async def test_concurrent_refresh_with_one_token_at_most_one_wins(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="race@example.com")
    tokens = await native_login(client, "race@example.com")
    responses = await asyncio.gather(
        *(client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}) for _ in range(5))
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) <= 1
    assert all(r.status_code in (200, 401) for r in responses)


async def test_unknown_and_missing_refresh_tokens(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/refresh")).status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": "x" * 43})).status_code == 401
    response = await client.post("/auth/refresh", headers={"Cookie": "basis_refresh=forged-value"})
    assert response.status_code == 401
    assert (
        'basis_refresh=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]
    )


async def test_refresh_token_never_accepted_in_the_query_string(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="q@example.com")
    tokens = await native_login(client, "q@example.com")
    response = await client.post("/auth/refresh", params={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401
    me = await client.get(
        "/auth/me", params={"access_token": tokens["access_token"], "token": tokens["access_token"]}
    )
    assert me.status_code == 401


async def test_session_has_an_absolute_lifetime(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="abs@example.com")
    async with make_client(refresh_token_days=3, session_absolute_days=5) as client:
        start = dt.datetime.now(dt.UTC)
        with time_machine.travel(start, tick=False):
            token = (await native_login(client, "abs@example.com"))["refresh_token"]
        for day in (2, 4):
            with time_machine.travel(start + dt.timedelta(days=day), tick=False):
                response = await client.post("/auth/refresh", json={"refresh_token": token})
                assert response.status_code == 200, (day, response.text)
                token = response.json()["refresh_token"]
        # Refreshed every two days, still over after five days from the login.
        with time_machine.travel(start + dt.timedelta(days=5, minutes=1), tick=False):
            assert (await client.post("/auth/refresh", json={"refresh_token": token})).status_code == 401


async def test_idle_refresh_token_expires(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="idle@example.com")
    async with make_client(refresh_token_days=1) as client:
        start = dt.datetime.now(dt.UTC)
        with time_machine.travel(start, tick=False):
            token = (await native_login(client, "idle@example.com"))["refresh_token"]
        with time_machine.travel(start + dt.timedelta(days=1, minutes=1), tick=False):
            assert (await client.post("/auth/refresh", json={"refresh_token": token})).status_code == 401


async def test_access_token_expires(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="exp@example.com")
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        token = (await native_login(client, "exp@example.com"))["access_token"]
    with time_machine.travel(start + dt.timedelta(minutes=16), tick=False):
        response = await client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


async def test_logout_with_cookie_ends_that_session_at_once(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="out@example.com")
    token = (await login(client, "out@example.com")).json()["access_token"]
    response = await client.post("/auth/logout")
    assert response.status_code == 200 and response.json()["detail"]
    assert "basis_refresh" in response.headers["set-cookie"]
    assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
    assert "basis_refresh" not in client.cookies
    assert (await client.post("/auth/refresh")).status_code == 401


async def test_logout_with_bearer_only_ends_the_token_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="bo@example.com")
    first = await native_login(client, "bo@example.com")
    second = await native_login(client, "bo@example.com")
    assert (await client.post("/auth/logout", headers=bearer(first["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(first["access_token"]))).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).status_code == 401
    # The other session is untouched.
    assert (await client.get("/auth/me", headers=bearer(second["access_token"]))).status_code == 200
    assert (await client.post("/auth/logout")).status_code == 401


async def test_logout_all_ends_every_session(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="all@example.com")
    sessions = [await native_login(client, "all@example.com") for _ in range(3)]
    response = await client.post("/auth/logout-all", headers=bearer(sessions[0]["access_token"]))
    assert response.status_code == 200
    for tokens in sessions:
        assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
        assert (
            await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        ).status_code == 401
    assert "logout_all" in [e["event_type"] for e in await events(client, admin_headers, user_id=user.id)]


async def test_sessions_list_and_revoke_one(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession
) -> None:
    await make_user(email="dev@example.com")
    phone = (
        await client.post(
            "/auth/login",
            json={"email": "dev@example.com", "password": PASSWORD, "client": "native", "device": "Phone"},
            headers={"user-agent": "BasisMobile/1.0"},
        )
    ).json()
    client.cookies.clear()
    laptop = await native_login(client, "dev@example.com")
    listed = await client.get("/auth/sessions", headers=bearer(laptop["access_token"]))
    assert listed.status_code == 200
    rows = listed.json()
    assert len(rows) == 2
    current = [r for r in rows if r["current"]]
    assert len(current) == 1
    other = next(r for r in rows if not r["current"])
    assert (
        other["device"] == "Phone" and other["user_agent"] == "BasisMobile/1.0" and other["ip"] == "127.0.0.1"
    )
    assert "token_hash" not in other and phone["refresh_token"] not in listed.text
    deleted = await client.delete(f"/auth/sessions/{other['id']}", headers=bearer(laptop["access_token"]))
    assert deleted.status_code == 204
    assert (await client.get("/auth/me", headers=bearer(phone["access_token"]))).status_code == 401
    assert (await client.get("/auth/me", headers=bearer(laptop["access_token"]))).status_code == 200
    missing = await client.delete(f"/auth/sessions/{other['id']}", headers=bearer(laptop["access_token"]))
    assert missing.status_code == 404


async def test_cannot_revoke_someone_elses_session(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="alice@example.com")
    await make_user(email="bob@example.com")
    alice = await native_login(client, "alice@example.com")
    bob = await native_login(client, "bob@example.com")
    bob_sid = (await client.get("/auth/sessions", headers=bearer(bob["access_token"]))).json()[0]["id"]
    response = await client.delete(f"/auth/sessions/{bob_sid}", headers=bearer(alice["access_token"]))
    assert response.status_code == 404
    assert (await client.get("/auth/me", headers=bearer(bob["access_token"]))).status_code == 200


async def test_only_hashes_of_refresh_tokens_are_stored(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession
) -> None:
    await make_user(email="hash@example.com")
    raw = (await native_login(client, "hash@example.com"))["refresh_token"]
    rows = (await session.execute(select(RefreshToken))).scalars().all()
    assert rows and all(raw not in (r.token_hash, r.family_id) and len(r.token_hash) == 64 for r in rows)


async def test_role_change_and_deactivation_apply_to_the_next_request(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="promote@example.com")
    token = (await native_login(client, "promote@example.com"))["access_token"]
    assert (await client.get("/users", headers=bearer(token))).status_code == 403
    assert (
        await client.patch(f"/users/{user.id}", json={"role": "admin"}, headers=admin_headers)
    ).status_code == 200
    assert (await client.get("/users", headers=bearer(token))).status_code == 200
    assert (
        await client.patch(f"/users/{user.id}", json={"role": "user"}, headers=admin_headers)
    ).status_code == 200
    assert (await client.get("/users", headers=bearer(token))).status_code == 403
    assert (
        await client.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    ).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401


async def test_password_change_keeps_this_session_and_ends_the_others(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="pw@example.com")
    this = await native_login(client, "pw@example.com")
    other = await native_login(client, "pw@example.com")
    wrong = await client.post(
        "/auth/password/change",
        json={"current_password": "not it at all", "new_password": OTHER_PASSWORD},
        headers=bearer(this["access_token"]),
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_credentials"
    weak = await client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "password1"},
        headers=bearer(this["access_token"]),
    )
    assert weak.status_code == 422
    ok = await client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers=bearer(this["access_token"]),
    )
    assert ok.status_code == 200
    assert (await client.get("/auth/me", headers=bearer(this["access_token"]))).status_code == 200
    assert (await client.get("/auth/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    ).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": this["refresh_token"]})
    ).status_code == 200
    assert (await login(client, "pw@example.com")).status_code == 401
    assert (await login(client, "pw@example.com", OTHER_PASSWORD)).status_code == 200
    kinds = [e["event_type"] for e in await events(client, admin_headers, user_id=user.id)]
    assert "password_changed" in kinds


async def test_refresh_is_limited_per_session(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="spin@example.com")
    async with make_client(refresh_limit_session="2/minute") as client:
        token = (await native_login(client, "spin@example.com"))["refresh_token"]
        for _ in range(2):
            response = await client.post("/auth/refresh", json={"refresh_token": token})
            assert response.status_code == 200
            token = response.json()["refresh_token"]
        response = await client.post("/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 429 and "retry-after" in response.headers
        # A refused refresh did not use the token up.
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2), tick=True):
            assert (await client.post("/auth/refresh", json={"refresh_token": token})).status_code == 200


async def test_guessing_the_current_password_is_limited(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="guess@example.com")
    token = (await native_login(client, "guess@example.com"))["access_token"]
    body = {"current_password": "guess number x", "new_password": OTHER_PASSWORD}
    statuses = [
        (await client.post("/auth/password/change", json=body, headers=bearer(token))).status_code
        for _ in range(6)
    ]
    assert statuses == [400] * 5 + [429]
    right = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}
    assert (await client.post("/auth/password/change", json=right, headers=bearer(token))).status_code == 429


async def test_token_of_a_deleted_user_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, session
) -> None:  # type: ignore[no-untyped-def]
    user = await make_user(email="deleted@example.com")
    token = (await login(client, "deleted@example.com")).json()["access_token"]
    await session.delete(user)
    await session.commit()
    assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401
