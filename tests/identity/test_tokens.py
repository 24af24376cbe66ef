"""Access-token decoding (identity.md "Tokens and sessions"): every forgery is refused."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import jwt
import pytest
import time_machine

from basis.identity.tokens import InvalidToken, TokenCodec, key_id

SECRET = "k" * 16 + "an-hs256-key-of-32-bytes-or-more"
OLD_SECRET = "o" * 16 + "the-previous-key-still-verifying"


def codec(*secrets: str, minutes: int = 15) -> TokenCodec:
    return TokenCodec(list(secrets or [SECRET]), issuer="basis", audience="basis", access_minutes=minutes)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "basis",
        "aud": "basis",
        "sub": "7",
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": "j1",
        "typ": "access",
        "sid": "s1",
        "role": "user",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": key_id(secret), **headers})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip_with_all_claims() -> None:
    token = codec().issue_access(user_id=7, sid="s1", role="admin")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] == key_id(SECRET)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid", "role"} <= payload.keys()
    assert payload["typ"] == "access" and payload["exp"] - payload["iat"] == 900
    decoded = codec().decode_access(token)
    assert (decoded.user_id, decoded.sid, decoded.role) == (7, "s1", "admin")


def test_key_rotation_first_signs_all_verify() -> None:
    old_token = codec(OLD_SECRET).issue_access(user_id=1, sid="s", role="user")
    rotated = codec(SECRET, OLD_SECRET)
    assert rotated.decode_access(old_token).user_id == 1
    new_token = rotated.issue_access(user_id=2, sid="s", role="user")
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(SECRET)
    with pytest.raises(InvalidToken):
        codec(OLD_SECRET).decode_access(new_token)
    # Once the old key is retired, its tokens stop working.
    with pytest.raises(InvalidToken):
        codec(SECRET).decode_access(old_token)


def test_hmac_key_is_the_secret_string_as_utf8() -> None:
    token = codec().issue_access(user_id=3, sid="s", role="user")
    assert jwt.decode(token, SECRET.encode(), algorithms=["HS256"], audience="basis")["sub"] == "3"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda: b64({"alg": "none", "typ": "JWT", "kid": key_id(SECRET)}) + "." + b64(claims()) + ".",
            id="alg-none",
        ),
        pytest.param(
            lambda: b64({"alg": "None", "kid": key_id(SECRET)}) + "." + b64(claims()) + ".", id="alg-None"
        ),
        pytest.param(
            lambda: jwt.encode(claims(), SECRET + "x", algorithm="HS256", headers={"kid": key_id(SECRET)}),
            id="wrong-key",
        ),
        pytest.param(
            lambda: jwt.encode(claims(), SECRET * 2, algorithm="HS512", headers={"kid": key_id(SECRET)}),
            id="alg-hs512",
        ),
        pytest.param(lambda: sign(claims(), kid="unknown"), id="unknown-kid"),
        pytest.param(lambda: jwt.encode(claims(), SECRET, algorithm="HS256"), id="no-kid"),
        pytest.param(lambda: sign(claims(aud="other")), id="wrong-aud"),
        pytest.param(lambda: sign(claims(aud=None)), id="no-aud"),
        pytest.param(lambda: sign(claims(iss="evil")), id="wrong-iss"),
        pytest.param(lambda: sign(claims(typ="refresh")), id="wrong-typ"),
        pytest.param(lambda: sign(claims(typ=None)), id="no-typ"),
        pytest.param(lambda: sign(claims(), typ="at+jwt+evil"), id="wrong-header-typ"),
        pytest.param(lambda: sign(claims(), crit=["exp"]), id="crit"),
        pytest.param(
            lambda: sign(claims(exp=int(time.time()) - 60, iat=int(time.time()) - 1000)), id="expired"
        ),
        pytest.param(lambda: sign(claims(nbf=int(time.time()) + 600)), id="nbf-future"),
        pytest.param(lambda: sign(claims(iat=int(time.time()) + 600)), id="iat-future"),
        pytest.param(lambda: sign(claims(exp=None)), id="no-exp"),
        pytest.param(lambda: sign(claims(sid=None)), id="no-sid"),
        pytest.param(lambda: sign(claims(jti=None)), id="no-jti"),
        pytest.param(lambda: sign(claims(sub="admin")), id="non-numeric-sub"),
        pytest.param(lambda: "not.a.token", id="garbage"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_forged_or_invalid_tokens_are_refused(forge: Any) -> None:
    with pytest.raises(InvalidToken):
        codec().decode_access(forge())


def test_tampered_payload_is_refused() -> None:
    token = codec().issue_access(user_id=5, sid="s", role="user")
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["role"], data["sub"] = "admin", "1"
    with pytest.raises(InvalidToken):
        codec().decode_access(f"{header}.{b64(data)}.{signature}")


def test_expiry_follows_the_configured_lifetime() -> None:
    start = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        token = codec(minutes=15).issue_access(user_id=1, sid="s", role="user")
    with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
        assert codec().decode_access(token).user_id == 1
    with time_machine.travel(start + dt.timedelta(minutes=15, seconds=10), tick=False):
        with pytest.raises(InvalidToken):
            codec().decode_access(token)
