"""Registration (identity.md: POST /auth/register and "Details")."""

from __future__ import annotations

import httpx

from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD, bearer, events, register


async def test_register_logs_in_as_a_plain_user(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await register(
        client,
        "New@Example.com",
        full_name="Test User 2",
        phone="+77770001234",
        role="admin",
        is_active=False,
        id=1,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    user = body["user"]
    assert user["email"] == "new@example.com" and user["role"] == "user" and user["is_active"] is True
    assert user["full_name"] == "Test User 2" and user["phone"] == "+77770001234"
    assert "password_hash" not in user and "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["set-cookie"].startswith("basis_refresh=")
    me = await client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    # The refresh cookie it set works.
    assert (await client.post("/auth/refresh")).status_code == 200
    kinds = [e["event_type"] for e in await events(client, admin_headers, user_id=user["id"])]
    assert "register" in kinds and "login_success" not in kinds


async def test_duplicates_are_409_case_insensitively(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="taken@example.com", username="Taken")
    assert (await register(client, "TAKEN@example.com")).status_code == 409
    response = await register(client, "other@example.com", username="tAkEn")
    assert response.status_code == 409 and response.json()["code"] == "account_exists"
    assert (await register(client, "fresh@example.com", username="fresh_name")).status_code == 201
    assert (await register(client, "fresh2@example.com", username="FRESH_NAME")).status_code == 409


async def test_closed_registration_is_403(make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(registration="closed") as client:
        response = await register(client, "late@example.com")
        assert response.status_code == 403
        assert response.json() == {"detail": "Registration is closed", "code": "registration_closed"}


async def test_password_policy_is_422_with_the_field(client: httpx.AsyncClient) -> None:
    for weak in ("short", "password123", "12345678"):
        response = await register(client, "weak@example.com", password=weak)
        assert response.status_code == 422, weak
        assert response.json()["detail"][0]["loc"] == ["body", "password"]
        assert weak not in response.text or weak == "short"
    response = await register(client, "mallory@example.com", password="mallory2024")
    assert response.status_code == 422
    long_ok = await register(
        client, "long@example.com", password="w" * 10 + " and a very long passphrase " * 30
    )
    assert long_ok.status_code == 201


async def test_invalid_email_and_missing_fields_are_422(client: httpx.AsyncClient) -> None:
    assert (
        await client.post("/auth/register", json={"email": "not-an-email", "password": PASSWORD})
    ).status_code == 422
    assert (await client.post("/auth/register", json={"password": PASSWORD})).status_code == 422
    assert (await client.post("/auth/register", json={"email": "x@example.com"})).status_code == 422


async def test_native_registration_gets_the_refresh_token(client: httpx.AsyncClient) -> None:
    response = await register(client, "phone@example.com", client="native")
    assert response.status_code == 201 and response.json()["refresh_token"]
