"""Access tokens: forged, tampered, expired and misplaced JWTs are refused (ASVS V9, identity.md)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession

from tests.security.helpers import (
    TEST_JWT_SECRET,
    assert_bearer_401,
    b64url,
    bearer,
    claims,
    header_of,
    is_bearer_401,
    login_ok,
    raw_jwt,
    resign,
)

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
OLD_SECRET = "old-secret-" + "Hq7@vX2#kL9!pW4z" * 3
NEW_SECRET = "new-secret-" + "Zr5%nB8&cT1*yM6q" * 3


@pytest.fixture
async def user_token(client: httpx.AsyncClient, make_user: Any) -> str:
    user = await make_user()
    return (await login_ok(client, user.email)).access


async def test_resigned_unchanged_token_is_accepted(client: httpx.AsyncClient, user_token: str) -> None:
    # The control for every forgery below: re-signing the same claims with the server's key
    # works, so a 401 below is caused by the one thing each test changes.
    assert header_of(user_token)["alg"] == "HS256"
    assert "kid" in header_of(user_token)  # identity.md: "`kid` header so keys can rotate"
    for claim in ("iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid", "role"):
        assert claim in claims(user_token), claim
    assert claims(user_token)["typ"] == "access"
    response = await client.get("/auth/me", headers=bearer(resign(user_token)))
    assert response.status_code == 200, response.text


async def not_refused(
    client: httpx.AsyncClient, forgeries: dict[str, str], path: str = "/auth/me"
) -> list[str]:
    """The labels of the forged tokens that did not get a 401 with a Bearer challenge."""
    failures = []
    for label, token in forgeries.items():
        response = await client.get(path, headers=bearer(token))
        if not is_bearer_401(response):
            failures.append(f"{label}: {response.status_code} {response.headers.get('www-authenticate')!r}")
    return failures


async def test_alg_none_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    forgeries = {}
    for alg in ("none", "None", "NONE", "nOnE"):
        header = {**header_of(user_token), "alg": alg}
        forgeries[f"alg={alg}"] = raw_jwt(header, claims(user_token), None)
        forgeries[f"alg={alg} no dot"] = raw_jwt(header, claims(user_token), None)[:-1]
    assert await not_refused(client, forgeries) == []


async def test_token_signed_with_a_wrong_key_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    head, payload, signature = user_token.split(".")
    forgeries = {
        "wrong key": resign(user_token, key="attacker-" + "k" * 40),
        "empty key": resign(user_token, key=""),
        "stripped signature": f"{head}.{payload}.",
        "two segments": f"{head}.{payload}",
        "truncated signature": f"{head}.{payload}.{signature[:-4]}",
    }
    assert await not_refused(client, forgeries) == []


async def test_algorithm_outside_the_allow_list_is_refused(
    client: httpx.AsyncClient, user_token: str
) -> None:
    # RS/HS confusion: an asymmetric alg in the header over an HMAC made with the server's
    # secret. HS384/HS512 with the right secret: identity.md names HS256 only ("The HMAC key for
    # HS256 ..."; "Decode with an algorithm allow-list"), the stricter reading refuses them.
    forgeries = {}
    for alg, digest in (
        ("RS256", "sha256"),
        ("ES256", "sha256"),
        ("PS256", "sha256"),
        ("EdDSA", "sha256"),
        ("HS384", "sha384"),
        ("HS512", "sha512"),
    ):
        header = {**header_of(user_token), "alg": alg}
        forgeries[alg] = raw_jwt(header, claims(user_token), TEST_JWT_SECRET.encode(), digest)
    assert await not_refused(client, forgeries) == []


async def test_attacker_key_embedded_in_header_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    import jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "e": b64url(numbers.e.to_bytes(3, "big")),
        "n": b64url(numbers.n.to_bytes(256, "big")),
    }
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forgeries = {}
    for name, extra in (
        ("jwk", {"jwk": jwk}),
        ("jku", {"jku": "https://attacker.example/jwks.json"}),
        ("x5u", {"x5u": "https://attacker.example/cert.pem"}),
    ):
        forgeries[name] = jwt.encode(
            claims(user_token), pem, algorithm="RS256", headers={"kid": header_of(user_token)["kid"], **extra}
        )
    assert await not_refused(client, forgeries) == []


async def test_wrong_typ_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    forgeries = {
        f"typ={typ!r}": resign(user_token, typ=typ) for typ in ("refresh", "reset", "ws", "Access", "", None)
    }
    forgeries["no typ"] = resign(user_token, drop=["typ"])
    assert await not_refused(client, forgeries) == []


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient, make_user: Any) -> None:
    user = await make_user()
    tokens = await login_ok(client, user.email)
    assert_bearer_401(await client.get("/auth/me", headers=bearer(tokens.refresh)))


async def test_wrong_audience_or_issuer_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    changes: list[dict[str, Any]] = [
        {"aud": "other"},
        {"aud": ["other"]},
        {"aud": ""},
        {"iss": "other"},
        {"iss": "https://attacker.example"},
        {"iss": ""},
    ]
    forgeries = {str(change): resign(user_token, **change) for change in changes}
    assert await not_refused(client, forgeries) == []


async def test_missing_claim_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    # identity.md lists the claims "iss, aud, sub, iat, exp, jti, typ, sid"; the stricter reading
    # requires each of them (role is re-read from the database and is not a security input).
    claims_required = ("exp", "sub", "sid", "typ", "aud", "iss", "iat", "jti")
    forgeries = {f"without {claim}": resign(user_token, drop=[claim]) for claim in claims_required}
    assert await not_refused(client, forgeries) == []


async def test_bad_claim_values_are_refused(client: httpx.AsyncClient, user_token: str) -> None:
    changes: list[dict[str, Any]] = [
        {"sub": "999999999"},
        {"sub": None},
        {"sub": {"id": 1}},
        {"sub": ""},
        {"exp": "tomorrow"},
        {"exp": None},
    ]
    forgeries = {str(change): resign(user_token, **change) for change in changes}
    assert await not_refused(client, forgeries) == []


async def test_expired_token_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    exp = dt.datetime.fromtimestamp(claims(user_token)["exp"], dt.UTC)
    with time_machine.travel(exp - dt.timedelta(seconds=30), tick=False):
        assert (await client.get("/auth/me", headers=bearer(user_token))).status_code == 200
    with time_machine.travel(exp + dt.timedelta(minutes=2), tick=False):
        assert_bearer_401(await client.get("/auth/me", headers=bearer(user_token)))


async def test_default_access_lifetime_is_15_minutes(user_token: str) -> None:
    payload = claims(user_token)
    assert payload["exp"] - payload["iat"] == 15 * 60


async def test_not_yet_valid_token_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    future = int(dt.datetime.now(dt.UTC).timestamp()) + 600
    forgeries = {
        "nbf in 10 min": resign(user_token, nbf=future),
        "iat in 10 min": resign(user_token, iat=future, exp=future + 900),
    }
    assert await not_refused(client, forgeries) == []


async def test_unknown_crit_header_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    header = {**header_of(user_token), "crit": ["x-basis-unknown"], "x-basis-unknown": True}
    assert_bearer_401(await client.get("/auth/me", headers=bearer(resign(user_token, header=header))))


async def test_unknown_kid_is_refused(client: httpx.AsyncClient, user_token: str) -> None:
    # identity.md: "the first secret signs, all verify (`kid` names which)": a kid naming no
    # configured key has no key to verify with, even when the signature happens to match.
    forgeries = {
        f"kid={kid!r}": resign(user_token, header={**header_of(user_token), "kid": kid})
        for kid in ("unknown-kid", "../../etc/passwd", "' OR 1=1 --", 7, None, "")
    }
    assert await not_refused(client, forgeries) == []


async def test_tampered_payload_without_resigning_is_refused(
    client: httpx.AsyncClient, user_token: str
) -> None:
    head, _payload, signature = user_token.split(".")
    payload = {**claims(user_token), "role": "admin"}
    forged = f"{head}.{b64url(json.dumps(payload).encode())}.{signature}"
    assert_bearer_401(await client.get("/auth/me", headers=bearer(forged)))


async def test_role_claim_is_not_trusted(client: httpx.AsyncClient, user_token: str) -> None:
    # identity.md: "Roles are read from the database on every authorised request".
    escalated = resign(user_token, role="admin")
    assert (await client.get("/auth/me", headers=bearer(escalated))).status_code == 200
    assert (await client.get("/users", headers=bearer(escalated))).status_code == 403
    assert (await client.get("/auth/events", headers=bearer(escalated))).status_code == 403
    me = (await client.get("/auth/me", headers=bearer(escalated))).json()
    assert me["role"] == "user"


async def test_token_in_query_string_is_refused(
    client: httpx.AsyncClient, user_token: str, admin_headers: dict[str, str]
) -> None:
    # identity.md: "no call accepts a token in the query string except WebSocket handshakes".
    admin_token = admin_headers["Authorization"].split()[1]
    failures = []
    for param in ("access_token", "token", "jwt", "auth", "bearer", "authorization"):
        for path, token in (
            ("/auth/me", user_token),
            ("/users", admin_token),
            ("/auth/sessions", user_token),
        ):
            response = await client.get(path, params={param: token})
            if not is_bearer_401(response):
                failures.append(f"{path}?{param}=: {response.status_code}")
    assert failures == []


async def test_every_bad_authorization_gets_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    failures = []
    for authorization in (
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer x",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer a.b.c",
        "Bearer " + "A" * 5000,
        "Bearer \u00e9\u00e9",
        "bearer  x.y.z",
    ):
        headers: dict[str, Any] = {} if authorization is None else {"Authorization": authorization.encode()}
        for method, path in (
            ("GET", "/auth/me"),
            ("PATCH", "/auth/me"),
            ("GET", "/auth/sessions"),
            ("DELETE", "/auth/sessions/x"),
            ("POST", "/auth/logout-all"),
            ("POST", "/auth/password/change"),
            ("GET", "/users"),
            ("POST", "/users"),
            ("GET", "/users/1"),
            ("PATCH", "/users/1"),
            ("GET", "/auth/events"),
            ("GET", "/auth/events/counts"),
        ):
            response = await client.request(method, path, headers=headers, json={})
            if not is_bearer_401(response) or "Traceback" in response.text:
                failures.append(
                    f"{method} {path} [{(authorization or '')[:20]!r}]: {response.status_code} "
                    f"{response.headers.get('www-authenticate')!r}"
                )
    assert failures == []


async def test_user_deactivated_in_the_database_loses_access_at_once(
    client: httpx.AsyncClient, make_user: Any, session: AsyncSession
) -> None:
    # identity.md: roles (and so the account's state) "are read from the database on every
    # authorised request": even a change that bypassed the API's revocation applies at once.
    user = await make_user()
    tokens = await login_ok(client, user.email)
    assert (await client.get("/auth/me", headers=tokens.headers)).status_code == 200
    user.is_active = False
    await session.commit()
    assert_bearer_401(await client.get("/auth/me", headers=tokens.headers))


async def test_token_of_previous_secret_verifies_and_removed_secret_does_not(
    make_client: ClientFactory, make_user: Any
) -> None:
    user = await make_user()
    async with make_client(jwt_secrets=[OLD_SECRET]) as old:
        old_token = (await login_ok(old, user.email)).access
    old_kid = header_of(old_token)["kid"]

    async with make_client(jwt_secrets=[NEW_SECRET, OLD_SECRET]) as rotated:
        assert (await rotated.get("/auth/me", headers=bearer(old_token))).status_code == 200
        new_token = (await login_ok(rotated, user.email)).access
        # identity.md: "the first secret signs".
        assert header_of(new_token)["kid"] != old_kid
        import jwt

        jwt.decode(new_token, NEW_SECRET.encode(), algorithms=["HS256"], options={"verify_aud": False})

    async with make_client(jwt_secrets=[NEW_SECRET]) as removed:
        assert_bearer_401(await removed.get("/auth/me", headers=bearer(old_token)))
        assert (await removed.get("/auth/me", headers=bearer(new_token))).status_code == 200
