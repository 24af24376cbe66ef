"""Roles and object access: admin-only APIs, live role changes, mass assignment, IDOR (ASVS V8)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.helpers import (
    HASH_PATTERN,
    STRONG_PASSWORD,
    bearer,
    items_of,
    login,
    login_ok,
)

ADMIN_ONLY = [
    ("GET", "/users", None),
    ("POST", "/users", {"email": "made@example.com", "password": STRONG_PASSWORD, "role": "admin"}),
    ("GET", "/users/{id}", None),
    ("PATCH", "/users/{id}", {"role": "admin"}),
    ("PATCH", "/users/{other}", {"is_active": False}),
    ("GET", "/auth/events", None),
    ("GET", "/auth/events/counts", None),
]


@pytest.mark.parametrize("role", ["user", "operator"])
async def test_non_admins_are_forbidden_from_admin_apis(
    client: httpx.AsyncClient, make_user: Any, role: str
) -> None:
    me = await make_user(role=role)
    other = await make_user()
    tokens = await login_ok(client, me.email)
    for method, path, body in ADMIN_ONLY:
        url = path.format(id=me.id, other=other.id)
        response = await client.request(method, url, json=body, headers=tokens.headers)
        assert response.status_code == 403, (role, method, url, response.status_code, response.text)
    # Nothing changed behind the 403s.
    assert (await client.get("/auth/me", headers=tokens.headers)).json()["role"] == role
    assert (await login(client, other.email)).status_code == 200
    assert (await login(client, "made@example.com", STRONG_PASSWORD)).status_code == 401


async def test_idor_on_users_by_id_reveals_nothing(client: httpx.AsyncClient, make_user: Any) -> None:
    me, victim = await make_user(), await make_user(full_name="Victim Secretname")
    tokens = await login_ok(client, me.email)
    seen = await client.get(f"/users/{victim.id}", headers=tokens.headers)
    missing = await client.get("/users/987654321", headers=tokens.headers)
    assert seen.status_code == missing.status_code == 403
    assert "Secretname" not in seen.text and victim.email not in seen.text


async def test_admin_apis_work_for_admins(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    assert (await client.get("/users", headers=admin_headers)).status_code == 200
    assert (await client.get(f"/users/{user.id}", headers=admin_headers)).status_code == 200
    assert (await client.get("/auth/events", headers=admin_headers)).status_code == 200
    assert (await client.get("/auth/events/counts", headers=admin_headers)).status_code == 200
    assert (await client.get("/users/987654321", headers=admin_headers)).status_code == 404


async def test_role_change_applies_to_the_next_request_of_an_existing_token(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    assert (await client.get("/users", headers=tokens.headers)).status_code == 403
    promoted = await client.patch(f"/users/{user.id}", json={"role": "admin"}, headers=admin_headers)
    assert promoted.status_code == 200, promoted.text
    assert (await client.get("/users", headers=tokens.headers)).status_code == 200
    demoted = await client.patch(f"/users/{user.id}", json={"role": "user"}, headers=admin_headers)
    assert demoted.status_code == 200
    assert (await client.get("/users", headers=tokens.headers)).status_code == 403
    assert (await client.get("/auth/me", headers=tokens.headers)).json()["role"] == "user"


async def test_demoted_admin_loses_admin_rights_at_once(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    second_admin = await make_user(role="admin")
    tokens = await login_ok(client, second_admin.email)
    assert (await client.get("/users", headers=tokens.headers)).status_code == 200
    response = await client.patch(
        f"/users/{second_admin.id}", json={"role": "operator"}, headers=admin_headers
    )
    assert response.status_code == 200
    assert (await client.get("/users", headers=tokens.headers)).status_code == 403
    created = await client.post(
        "/users",
        headers=tokens.headers,
        json={"email": "sneaky@example.com", "password": STRONG_PASSWORD, "role": "admin"},
    )
    assert created.status_code == 403


async def test_register_ignores_mass_assigned_fields(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    body = {
        "email": "mass@example.com",
        "password": STRONG_PASSWORD,
        "role": "admin",
        "is_active": False,
        "id": 4242,
        "password_hash": "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA",
        "created_at": "2000-01-01T00:00:00Z",
        "password_changed_at": "2000-01-01T00:00:00Z",
    }
    response = await client.post("/auth/register", json=body)
    client.cookies.clear()
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["role"] == "user" and user["is_active"] is True and user["id"] != 4242
    token = response.json()["access_token"]
    assert (await client.get("/users", headers=bearer(token))).status_code == 403
    stored = await client.get(f"/users/{user['id']}", headers=admin_headers)
    assert stored.json()["role"] == "user" and stored.json()["is_active"] is True
    assert not str(stored.json().get("created_at", "")).startswith("2000")
    assert (await login(client, "mass@example.com", STRONG_PASSWORD)).status_code == 200


async def test_patch_me_cannot_change_role_state_or_email(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="self@example.com")
    tokens = await login_ok(client, user.email)
    for body in (
        {"role": "admin"},
        {"is_active": False},
        {"email": "hijack@example.com"},
        {"role": "admin", "full_name": "Still Me", "id": 1},
        {"password_hash": "x", "username": "root"},
        {"email": "hijack@example.com", "current_password": "wrong password"},
    ):
        response = await client.patch("/auth/me", json=body, headers=tokens.headers)
        assert response.status_code in (200, 400, 403, 422), (body, response.text)
    stored = (await client.get(f"/users/{user.id}", headers=admin_headers)).json()
    assert stored["role"] == "user"
    assert stored["is_active"] is True
    assert stored["email"] == "self@example.com"
    assert stored["id"] == user.id
    assert (await client.get("/users", headers=tokens.headers)).status_code == 403
    assert (await login(client, "hijack@example.com")).status_code == 401
    ok = await client.patch(
        "/auth/me", json={"full_name": "New Name", "phone": "+48 600 000 000"}, headers=tokens.headers
    )
    assert ok.status_code == 200 and ok.json()["full_name"] == "New Name"


async def test_no_response_ever_contains_a_password_hash(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    responses = [
        await login(client, user.email),
        await client.get("/auth/me", headers=tokens.headers),
        await client.patch("/auth/me", json={"full_name": "X"}, headers=tokens.headers),
        await client.get("/users", headers=admin_headers),
        await client.get("/users", params={"q": user.email}, headers=admin_headers),
        await client.get(f"/users/{user.id}", headers=admin_headers),
        await client.patch(f"/users/{user.id}", json={"full_name": "Y"}, headers=admin_headers),
        await client.post(
            "/users",
            json={"email": "h@example.com", "password": STRONG_PASSWORD, "role": "user"},
            headers=admin_headers,
        ),
        await client.get("/auth/events", headers=admin_headers),
        await client.get("/auth/sessions", headers=tokens.headers),
    ]
    for response in responses:
        assert response.status_code in (200, 201), (response.request.url, response.text)
        assert not HASH_PATTERN.search(response.text), (response.request.url, response.text[:500])
        assert "password_hash" not in response.text and "token_hash" not in response.text


async def test_admin_created_passwords_go_through_policy_and_hasher(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    # identity.md: "a list of common passwords refused"; aliases and admin paths "never weaken it".
    for weak in ("password", "12345678", "short"):
        response = await client.post(
            "/users",
            json={"email": "weak@example.com", "password": weak, "role": "user"},
            headers=admin_headers,
        )
        assert response.status_code == 422, (weak, response.text)
    response = await client.post(
        "/users",
        json={"email": "staff@example.com", "password": STRONG_PASSWORD, "role": "operator"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "operator"
    assert (await login(client, "staff@example.com", STRONG_PASSWORD)).status_code == 200


async def test_users_list_filters_do_not_leak_to_non_admins(
    client: httpx.AsyncClient, make_user: Any, admin_headers: dict[str, str]
) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    for params in ({"role": "admin"}, {"q": "admin"}, {"is_active": "false"}):
        assert (await client.get("/users", params=params, headers=tokens.headers)).status_code == 403
    listing = await client.get("/users", params={"role": "user", "limit": 1}, headers=admin_headers)
    assert listing.status_code == 200
    body = listing.json()
    assert set(body) >= {"items", "total", "limit", "offset"} and len(items_of(body)) <= 1


async def test_closed_registration_refuses_every_sign_up(make_client: Any) -> None:
    async with make_client(registration="closed") as client:
        for body in (
            {"email": "late@example.com", "password": STRONG_PASSWORD},
            {"email": "late2@example.com", "password": STRONG_PASSWORD, "role": "admin"},
        ):
            response = await client.post("/auth/register", json=body)
            assert response.status_code == 403, response.text
            assert response.json()["code"] == "registration_closed"
            assert response.headers.get_list("set-cookie") == []
        assert (await login(client, "late@example.com", STRONG_PASSWORD)).status_code == 401
