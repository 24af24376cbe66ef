"""Login (identity.md "Canonical HTTP API", "Login for humans and errors", "Details")."""

from __future__ import annotations

import statistics
import time

import bcrypt
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.identity.models import User
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import PASSWORD, bearer, events, login, register

INVALID = {"detail": "Invalid credentials", "code": "invalid_credentials"}


async def test_json_login_by_email_username_or_login(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user(email="Ann@Example.com", username="Ann.K")
    for body in (
        {"email": "ann@example.com"},
        {"email": "  ANN@example.COM "},
        {"username": "ann.k"},
        {"login": "ANN.K"},
        {"login": "ann@example.com"},
    ):
        response = await client.post("/auth/login", json={**body, "password": PASSWORD})
        assert response.status_code == 200, (body, response.text)
        data = response.json()
        assert data["token_type"] == "bearer" and data["expires_in"] == 15 * 60
        assert data["role"] == "user" and data["user"]["id"] == user.id
        assert "refresh_token" not in data
        assert "password_hash" not in data["user"]


async def test_form_login_as_the_curl_checklist_does(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user(email="form@example.com")
    response = await client.post("/auth/login", data={"email": "form@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    me = await client.get("/auth/me", headers=bearer(response.json()["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == "form@example.com"
    # OAuth2-style form with username= works too.
    response = await client.post("/auth/login", data={"username": "form@example.com", "password": PASSWORD})
    assert response.status_code == 200


async def test_token_response_is_not_cached_and_sets_the_refresh_cookie(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="c@example.com")
    response = await login(client, "c@example.com")
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("basis_refresh=")
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert attributes["path"] == "Path=/auth"
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["max-age"] == f"Max-Age={14 * 86400}"
    assert "secure" not in attributes  # plain HTTP in development
    assert "refresh_token" not in response.json()


async def test_https_cookie_is_secure_and_prefixed(make_client, make_user: MakeUser) -> None:  # type: ignore[no-untyped-def]
    await make_user(email="tls@example.com")
    async with make_client(public_url="https://basis.example.com") as client:
        response = await login(client, "tls@example.com")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Secure-basis_refresh=")
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()
        assert "path=/auth" in cookie.lower()


async def test_native_client_gets_the_refresh_token_in_the_body(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="n@example.com")
    response = await login(client, "n@example.com", client="native", device="Pixel 8")
    assert response.status_code == 200
    assert len(response.json()["refresh_token"]) >= 43  # 256 bits, base64url
    # A form login cannot ask for it.
    form = await client.post(
        "/auth/login", data={"email": "n@example.com", "password": PASSWORD, "client": "native"}
    )
    assert "refresh_token" not in form.json()


async def test_unknown_wrong_and_inactive_fail_identically(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user(email="real@example.com")
    await make_user(email="gone@example.com", is_active=False)
    responses = [
        await login(client, "nobody@example.com"),
        await login(client, "real@example.com", "wrong password here"),
        await login(client, "gone@example.com"),  # right password, inactive account
    ]
    for response in responses:
        assert response.status_code == 401
        assert response.json() == INVALID
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert len({tuple(sorted(r.headers.keys())) for r in responses}) == 1


async def test_unknown_account_takes_about_as_long_as_a_wrong_password(
    make_client,
    make_user: MakeUser,  # type: ignore[no-untyped-def]
) -> None:
    # With the production hash cost, a missing account must not answer measurably faster.
    async with make_client(password_hash_profile="production", rate_limits_enabled=False) as client:
        assert (await register(client, "timing@example.com")).status_code == 201

        async def timed(login_name: str) -> float:
            started = time.perf_counter()
            response = await login(client, login_name, "not the password")
            assert response.status_code == 401
            return time.perf_counter() - started

        await timed("warmup@example.com")
        unknown = statistics.median([await timed(f"ghost{i}@example.com") for i in range(3)])
        wrong = statistics.median([await timed("timing@example.com") for _ in range(3)])
        # Without the dummy hash an unknown account answers ~20x faster; allow noisy machines.
        assert unknown > wrong / 3 and wrong > unknown / 3


async def test_bcrypt_hash_from_the_old_systems_is_upgraded_on_login(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser
) -> None:
    user = await make_user(email="old@example.com")
    user.password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    await session.commit()
    assert (await login(client, "old@example.com")).status_code == 200
    user_id = user.id
    session.expire_all()
    stored = (await session.execute(select(User.password_hash).where(User.id == user_id))).scalar_one()
    await session.rollback()  # SQLite: do not hold the write lock while the server works
    assert stored.startswith("$argon2id$")
    assert (await login(client, "old@example.com")).status_code == 200


async def test_invalid_input_is_422_with_field_messages(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", json={"password": "x"})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    response = await client.post("/auth/login", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert any(e["loc"] == ["body", "password"] for e in response.json()["detail"])
    response = await client.post(
        "/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    response = await client.post("/auth/login", json=["a", "b"])
    assert response.status_code == 422
    huge = await client.post("/auth/login", json={"email": "a@example.com", "password": "p" * 5000})
    assert huge.status_code == 422
    assert "p" * 100 not in huge.text  # a rejected password is never echoed
    plain = await client.post("/auth/login", content=b"email=a", headers={"content-type": "text/plain"})
    assert plain.status_code == 415


async def test_login_is_audited_without_secrets(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str]
) -> None:
    user = await make_user(email="audit@example.com")
    await login(client, "audit@example.com", "a wrong secret value")
    ok = await login(client, "audit@example.com", client="native")
    found = await events(client, admin_headers, user_id=user.id)
    kinds = [(e["event_type"], e["success"]) for e in found]
    assert ("login_failure", False) in kinds and ("login_success", True) in kinds
    text = str(found)
    assert "a wrong secret value" not in text and PASSWORD not in text
    assert ok.json()["refresh_token"] not in text and ok.json()["access_token"] not in text
    failure = next(e for e in found if e["event_type"] == "login_failure")
    assert failure["ip"] == "127.0.0.1" and failure["details"]["reason"] == "wrong_password"
