"""/users (admin only), /auth/me and roles (identity.md "Canonical HTTP API", "Details")."""

from __future__ import annotations

import httpx

from tests.fixtures.auth import MakeUser
from tests.identity.helpers import OTHER_PASSWORD, PASSWORD, bearer, events, login


async def test_me_and_patch_me(
    client: httpx.AsyncClient, make_user: MakeUser, user_headers: dict[str, str]
) -> None:
    me = await client.get("/auth/me", headers=user_headers)
    assert me.status_code == 200
    assert set(me.json()) == {
        "id",
        "email",
        "username",
        "full_name",
        "phone",
        "role",
        "is_active",
        "created_at",
    }
    patched = await client.patch(
        "/auth/me",
        json={"full_name": "New Name", "phone": "+48 600 000 000", "role": "admin", "is_active": False},
        headers=user_headers,
    )
    assert patched.status_code == 200
    assert patched.json()["full_name"] == "New Name" and patched.json()["role"] == "user"
    assert patched.json()["is_active"] is True


async def test_email_change_needs_the_password(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="mail@example.com")
    headers = bearer((await login(client, "mail@example.com")).json()["access_token"])
    refused = await client.patch("/auth/me", json={"email": "new@example.com"}, headers=headers)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_credentials"
    wrong = await client.patch(
        "/auth/me", json={"email": "new@example.com", "current_password": "nope nope"}, headers=headers
    )
    assert wrong.status_code == 400
    ok = await client.patch(
        "/auth/me", json={"email": "New@example.com", "current_password": PASSWORD}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["email"] == "new@example.com"


async def test_users_api_is_admin_only(
    client: httpx.AsyncClient, user_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    for headers in (user_headers, operator_headers):
        for method, path in (
            ("GET", "/users"),
            ("POST", "/users"),
            ("GET", "/users/1"),
            ("PATCH", "/users/1"),
            ("GET", "/auth/events"),
            ("GET", "/auth/events/counts"),
        ):
            response = await client.request(
                method, path, headers=headers, json={} if method != "GET" else None
            )
            assert response.status_code == 403, (method, path)
            assert response.json()["code"] == "forbidden"
    assert (await client.get("/users")).status_code == 401


async def test_list_filters_and_pagination(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    await make_user(role="operator", email="op.one@example.com", full_name="Olga Operator")
    await make_user(role="operator", email="op.two@example.com", is_active=False)
    await make_user(role="user", username="zed_user", full_name="Zed")
    everyone = (await client.get("/users", headers=admin_headers)).json()
    assert everyone["total"] == 4 and everyone["limit"] == 50 and everyone["offset"] == 0
    assert all("password_hash" not in u for u in everyone["items"])
    operators = (await client.get("/users", params={"role": "operator"}, headers=admin_headers)).json()
    assert operators["total"] == 2
    active_ops = (
        await client.get("/users", params={"role": "operator", "is_active": "true"}, headers=admin_headers)
    ).json()
    assert [u["email"] for u in active_ops["items"]] == ["op.one@example.com"]
    for q, expected in (("olga", 1), ("ZED_", 1), ("example.com", 3), ("100%", 0)):
        found = (await client.get("/users", params={"q": q}, headers=admin_headers)).json()
        assert found["total"] == expected, q
    page = (await client.get("/users", params={"limit": 2, "offset": 2}, headers=admin_headers)).json()
    assert len(page["items"]) == 2 and page["total"] == 4 and page["offset"] == 2
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"role": "root"}, {"is_active": "maybe"}):
        assert (await client.get("/users", params=bad, headers=admin_headers)).status_code == 422, bad


async def test_admin_creates_users_of_any_role(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/users",
        json={"username": "Desk1", "password": PASSWORD, "role": "operator", "full_name": "Desk"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "operator" and response.json()["email"] is None
    assert (await login(client, "desk1")).status_code == 200
    dup = await client.post(
        "/users", json={"username": "DESK1", "password": PASSWORD, "role": "user"}, headers=admin_headers
    )
    assert dup.status_code == 409
    weak = await client.post(
        "/users",
        json={"email": "w@example.com", "password": "qwerty123", "role": "user"},
        headers=admin_headers,
    )
    assert weak.status_code == 422
    nameless = await client.post("/users", json={"password": PASSWORD, "role": "user"}, headers=admin_headers)
    assert nameless.status_code == 422


async def test_role_change_and_deactivation_are_audited_and_revoke(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="worker@example.com")
    tokens = (await login(client, "worker@example.com", client="native")).json()
    client.cookies.clear()
    response = await client.patch(f"/users/{user.id}", json={"role": "operator"}, headers=admin_headers)
    assert response.status_code == 200 and response.json()["role"] == "operator"
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()["role"] == "operator"
    response = await client.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin_headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (await client.get("/auth/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (
        await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    assert (await login(client, "worker@example.com")).status_code == 401
    found = await events(client, admin_headers, user_id=user.id)
    role_event = next(e for e in found if e["event_type"] == "role_changed")
    assert role_event["details"]["from"] == "user" and role_event["details"]["to"] == "operator"
    assert any(e["event_type"] == "user_deactivated" for e in found)
    # Reactivated: can log in again.
    assert (
        await client.patch(f"/users/{user.id}", json={"is_active": True}, headers=admin_headers)
    ).status_code == 200
    assert (await login(client, "worker@example.com")).status_code == 200


async def test_admin_sets_a_password_through_the_hasher(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="reset-by-admin@example.com")
    assert (
        await client.patch(f"/users/{user.id}", json={"password": "123"}, headers=admin_headers)
    ).status_code == 422
    assert (
        await client.patch(f"/users/{user.id}", json={"password": OTHER_PASSWORD}, headers=admin_headers)
    ).status_code == 200
    assert (await login(client, "reset-by-admin@example.com", OTHER_PASSWORD)).status_code == 200


async def test_unknown_user_and_bad_input(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    assert (await client.get("/users/999999", headers=admin_headers)).status_code == 404
    assert (await client.get("/users/abc", headers=admin_headers)).status_code == 422
    assert (await client.get("/users/99999999999999999999", headers=admin_headers)).status_code == 422
    assert (
        await client.patch("/users/999999", json={"role": "user"}, headers=admin_headers)
    ).status_code == 404
    me = (await client.get("/auth/me", headers=admin_headers)).json()
    assert (
        await client.patch(f"/users/{me['id']}", json={"role": "superuser"}, headers=admin_headers)
    ).status_code == 422
    assert (
        await client.patch(f"/users/{me['id']}", json={"password_hash": "x"}, headers=admin_headers)
    ).status_code == 422


async def test_last_admin_cannot_lock_everyone_out(
    client: httpx.AsyncClient, admin_headers: dict[str, str], make_user: MakeUser
) -> None:
    me = (await client.get("/auth/me", headers=admin_headers)).json()
    response = await client.patch(f"/users/{me['id']}", json={"role": "user"}, headers=admin_headers)
    assert response.status_code == 409 and response.json()["code"] == "last_admin"
    await make_user(role="admin", email="second-admin@example.com")
    assert (
        await client.patch(f"/users/{me['id']}", json={"role": "user"}, headers=admin_headers)
    ).status_code == 200
    assert (await client.get("/users", headers=admin_headers)).status_code == 403


async def test_events_api_filters_and_counts(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="ev@example.com")
    await login(client, "ev@example.com", "wrong password!")
    await login(client, "ev@example.com")
    page = (await client.get("/auth/events", params={"user_id": user.id}, headers=admin_headers)).json()
    assert set(page) == {"items", "total", "limit", "offset"} and page["total"] == 2
    assert {"id", "user_id", "event_type", "success", "ip", "user_agent", "details", "created_at"} == set(
        page["items"][0]
    )
    failures = (
        await client.get(
            "/auth/events", params={"success": "false", "user_id": user.id}, headers=admin_headers
        )
    ).json()
    assert [e["event_type"] for e in failures["items"]] == ["login_failure"]
    typed = (
        await client.get(
            "/auth/events", params={"event_type": "login_success", "user_id": user.id}, headers=admin_headers
        )
    ).json()
    assert typed["total"] == 1
    counts = (await client.get("/auth/events/counts", headers=admin_headers)).json()
    assert counts["login_failure"] >= 1 and counts["login_success"] >= 1
    future = (
        await client.get(
            "/auth/events/counts", params={"from": "2999-01-01T00:00:00Z"}, headers=admin_headers
        )
    ).json()
    assert future == {}
    past = (
        await client.get("/auth/events", params={"to": "2000-01-01T00:00:00Z"}, headers=admin_headers)
    ).json()
    assert past["total"] == 0
    assert (
        await client.get("/auth/events", params={"from": "yesterday"}, headers=admin_headers)
    ).status_code == 422
    assert (
        await client.get("/auth/events", params={"limit": 1000}, headers=admin_headers)
    ).status_code == 422


async def test_nul_characters_are_422_not_a_database_error(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    admin_headers: dict[str, str],
    user_headers: dict[str, str],
) -> None:
    # PostgreSQL refuses NUL in text; every entry point must turn it into a clean 4xx.
    user = await make_user(email="nul@example.com")
    nul = "a\x00b"
    calls = [
        ("POST", "/auth/register", {"email": "n@example.com", "password": PASSWORD, "full_name": nul}, {}),
        ("POST", "/auth/login", {"login": nul, "password": PASSWORD}, {}),
        ("POST", "/auth/login", {"email": "nul@example.com", "password": PASSWORD, "device": nul}, {}),
        ("PATCH", "/auth/me", {"full_name": nul}, user_headers),
        (
            "POST",
            "/users",
            {"username": "nul_user", "password": PASSWORD, "role": "user", "phone": nul},
            admin_headers,
        ),
        ("PATCH", f"/users/{user.id}", {"full_name": nul}, admin_headers),
    ]
    for method, path, body, headers in calls:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, (method, path, response.text)
    for path, params in (("/users", {"q": nul}), ("/auth/events", {"event_type": nul})):
        assert (await client.get(path, params=params, headers=admin_headers)).status_code == 422
    # The core refuses NUL anywhere in a request before routing (422), so no app ever sees one.
    assert (await client.delete("/auth/sessions/a%00b", headers=user_headers)).status_code == 422
    form = await client.post("/auth/login", data={"email": nul, "password": PASSWORD})
    assert form.status_code == 422


async def test_email_change_reauthentication_is_limited_and_changes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="oracle@example.com")
    headers = bearer((await login(client, "oracle@example.com")).json()["access_token"])
    body = {"email": "moved@example.com", "full_name": "Changed", "current_password": "guess!"}
    statuses = [(await client.patch("/auth/me", json=body, headers=headers)).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["email"] == "oracle@example.com" and me["full_name"] != "Changed"
