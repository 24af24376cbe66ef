"""Access tokens (JWT, HS256 with a ``kid``) and opaque refresh / reset secrets."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from basis.core.time import utcnow

ALGORITHM = "HS256"
ALLOWED_ALGORITHMS = [ALGORITHM]
ACCESS_TYPE = "access"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid"]
# Leeway for clock drift between processes when checking exp / nbf / iat.
LEEWAY_SECONDS = 5


class InvalidToken(Exception):
    """Any reason a presented access token is not accepted; the reason stays server side."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    sid: str
    role: str
    jti: str
    issued_at: int
    expires_at: int


def key_id(secret: str) -> str:
    """A short public name of a key: lets a verifier pick the key without revealing it."""
    return hashlib.sha256(b"basis-kid:" + secret.encode()).hexdigest()[:16]


VERIFIED_CACHE_SIZE = 20_000
"""Access tokens whose signature and claims were already checked by this codec. A client sends
the same token for its whole lifetime, and checking one costs a JWT parse (PyJWT checks the
base64 alphabet character by character) and an HMAC; only the expiry changes with time."""


class TokenCodec:
    def __init__(self, secrets_: list[str], *, issuer: str, audience: str, access_minutes: int) -> None:
        if not secrets_:
            raise ValueError("at least one JWT secret is required")
        self.keys = {key_id(s): s.encode() for s in secrets_}
        self.signing_kid = key_id(secrets_[0])
        self.issuer = issuer
        self.audience = audience
        self.access_seconds = access_minutes * 60
        self._verified: dict[str, AccessClaims] = {}

    def issue_access(self, *, user_id: int, sid: str, role: str, now: dt.datetime | None = None) -> str:
        issued = int((now or utcnow()).timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": issued,
            "nbf": issued,
            "exp": issued + self.access_seconds,
            "jti": uuid.uuid4().hex,
            "typ": ACCESS_TYPE,
            "sid": sid,
            "role": role,
        }
        return jwt.encode(
            claims, self.keys[self.signing_kid], algorithm=ALGORITHM, headers={"kid": self.signing_kid}
        )

    def decode_access(self, token: str) -> AccessClaims:
        """The claims of a valid access token, else ``InvalidToken``; a token verified before
        is only checked for expiry again (the keys of a codec never change)."""
        claims = self._verified.get(token)
        if claims is not None:
            if time.time() < claims.expires_at + LEEWAY_SECONDS:
                return claims
            del self._verified[token]
            raise InvalidToken("ExpiredSignatureError")
        claims = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise InvalidToken("algorithm")
        if "crit" in header:
            # No extension is understood, so any critical one makes the token unacceptable.
            raise InvalidToken("crit")
        kid = header.get("kid")
        key = self.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("kid")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from exc
        if payload.get("typ") != ACCESS_TYPE or header.get("typ") not in (None, "JWT"):
            raise InvalidToken("typ")
        sub, sid = payload.get("sub"), payload.get("sid")
        if not isinstance(sub, str) or not sub.isdigit() or not isinstance(sid, str) or not sid:
            raise InvalidToken("subject")
        iat = payload["iat"]
        if not isinstance(iat, int) or iat > int(utcnow().timestamp()) + LEEWAY_SECONDS:
            raise InvalidToken("iat")
        return AccessClaims(
            user_id=int(sub),
            sid=sid,
            role=str(payload.get("role", "")),
            jti=str(payload["jti"]),
            issued_at=iat,
            expires_at=int(payload["exp"]),
        )


def new_secret() -> str:
    """256 random bits, URL-safe: refresh tokens and password reset tokens."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    return uuid.uuid4().hex


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
