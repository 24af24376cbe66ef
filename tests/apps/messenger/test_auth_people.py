"""Rules 1-6 and 40: the original client's auth aliases and people calls on the core identity."""

from __future__ import annotations

import httpx

from tests.apps.messenger.conftest import Api

PASSWORD = "a long enough passphrase 42"


async def _register(client: httpx.AsyncClient, email: str, username: str) -> httpx.Response:
    return await client.post(
        "/api/auth/register", json={"email": email, "username": username, "password": PASSWORD}
    )


async def test_register_login_refresh_round_trip_rotates_the_refresh_token(client: httpx.AsyncClient) -> None:
    registered = await _register(client, "Ann@Example.com", "ann")
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
    user = body["user"]
    assert set(user) == {"id", "email", "username", "full_name", "created_at", "online"}
    assert user["email"] == "ann@example.com" and user["online"] is False
    assert isinstance(user["id"], int)

    login = await client.post("/api/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["refresh_token"] and tokens["user"]["id"] == user["id"]

    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert set(refreshed.json()) == {"access_token", "refresh_token", "token_type"}
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]
    again = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401  # used up
    unknown = await client.post("/api/auth/refresh", json={"refresh_token": "nope"})
    assert unknown.status_code == 401

    me = await client.get("/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "ann"


async def test_taken_email_or_username_is_409_and_bad_login_401(client: httpx.AsyncClient) -> None:
    assert (await _register(client, "bob@example.com", "Bob")).status_code == 201
    assert (await _register(client, "BOB@example.com", "other")).status_code == 409
    assert (await _register(client, "new@example.com", "bob")).status_code == 409
    wrong = await client.post(
        "/api/auth/login", json={"email": "bob@example.com", "password": "wrong password!"}
    )
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_credentials"


async def test_people_need_a_token_and_search_is_case_insensitive(api: Api) -> None:
    ann = await api.person("annabel")
    await api.person("boris")
    assert (await api.client.get("/api/users/me")).status_code == 401
    assert (await api.client.get(f"/api/users/{ann.id}")).status_code == 401
    assert (await api.client.get("/api/users", params={"q": "ann"})).status_code == 401
    assert (await api.get(ann, f"/api/users/{ann.id}"))["full_name"] == "Annabel"
    await api.get(ann, "/api/users/999999", expect=404)
    await api.get(ann, "/api/users/abc", expect=422)
    found = await api.get(ann, "/api/users", q="ANNAB")
    assert [u["id"] for u in found] == [ann.id]
    assert "password_hash" not in found[0] and "role" not in found[0]
    assert await api.get(ann, "/api/users", q="zzz-nobody") == []


async def test_healthz_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
