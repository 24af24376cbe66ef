"""HTTP-level helpers of the black-box security suite (written from design/identity.md only)."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from tests.conftest import TEST_JWT_SECRET
from tests.fixtures.auth import DEFAULT_PASSWORD

__all__ = ["DEFAULT_PASSWORD", "TEST_JWT_SECRET"]

COOKIE_HTTP = "basis_refresh"
COOKIE_HTTPS = "__Secure-basis_refresh"
STRONG_PASSWORD = "violet tractor umbrella 42"
INVALID_CREDENTIALS = {"detail": "Invalid credentials", "code": "invalid_credentials"}
HASH_PATTERN = re.compile(r"\$argon2(?:id|i|d)\$|\$2[abxy]\$\d\d\$|pbkdf2[_:$]|scrypt[:$]")
# Headers that legitimately differ between two otherwise identical responses.
VOLATILE_HEADERS = {"x-request-id", "date"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def header_of(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(
    header: dict[str, Any], payload: dict[str, Any], key: bytes | None, digest: str = "sha256"
) -> str:
    """A JWS assembled by hand so that any header (alg none, RS256 over an HMAC...) can be sent."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64url(signature)}"


def resign(
    token: str,
    *,
    key: str = TEST_JWT_SECRET,
    header: dict[str, Any] | None = None,
    drop: Iterable[str] = (),
    **changes: Any,
) -> str:
    """The same token with its payload changed, signed HS256 with ``key`` (the server's by default)."""
    payload = {k: v for k, v in claims(token).items() if k not in set(drop)}
    payload.update(changes)
    head = header if header is not None else header_of(token)
    head = {**head, "alg": "HS256"}
    return raw_jwt(head, payload, key.encode())


def is_bearer_401(response: httpx.Response) -> bool:
    return response.status_code == 401 and response.headers.get("www-authenticate", "").lower().startswith(
        "bearer"
    )


def assert_bearer_401(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers.get("www-authenticate", "")
    # identity.md: "401 with `WWW-Authenticate: Bearer` for a missing/invalid/expired token".
    assert challenge.lower().startswith("bearer"), f"WWW-Authenticate={challenge!r}"
    assert "Traceback" not in response.text


# --- cookies (parsed from raw Set-Cookie so every attribute is checked, not just the value)


@dataclass
class SetCookie:
    name: str
    value: str
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def cleared(self) -> bool:
        if self.attrs.get("max-age") is not None:
            return int(self.attrs["max-age"]) <= 0
        expires = self.attrs.get("expires")
        if expires:
            import datetime as dt
            from email.utils import parsedate_to_datetime

            return parsedate_to_datetime(expires) <= dt.datetime.now(dt.UTC)
        return self.value in ("", '""')


def set_cookies(response: httpx.Response) -> list[SetCookie]:
    found = []
    for raw in response.headers.get_list("set-cookie"):
        parts = [p.strip() for p in raw.split(";")]
        name, _, value = parts[0].partition("=")
        attrs: dict[str, str] = {}
        for part in parts[1:]:
            key, _, val = part.partition("=")
            attrs[key.strip().lower()] = val.strip()
        found.append(SetCookie(name.strip(), value.strip(), attrs))
    return found


def refresh_cookie(response: httpx.Response, name: str = COOKIE_HTTP) -> SetCookie | None:
    matches = [c for c in set_cookies(response) if c.name == name]
    assert len(matches) <= 1, response.headers.get_list("set-cookie")
    return matches[0] if matches else None


def cookie_header(value: str, name: str = COOKIE_HTTP) -> dict[str, str]:
    return {"Cookie": f"{name}={value}"}


# --- flows


async def login(
    client: httpx.AsyncClient,
    identifier: str,
    password: str = DEFAULT_PASSWORD,
    *,
    native: bool = True,
    field_name: str = "email",
    headers: dict[str, str] | None = None,
    base: str = "",
) -> httpx.Response:
    body: dict[str, Any] = {field_name: identifier, "password": password}
    if native:
        body["client"] = "native"
    response = await client.post(f"{base}/auth/login", json=body, headers=headers)
    client.cookies.clear()
    return response


async def form_login(
    client: httpx.AsyncClient,
    identifier: str,
    password: str = DEFAULT_PASSWORD,
    *,
    field_name: str = "username",
    headers: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    response = await client.post(
        "/auth/login", data={field_name: identifier, "password": password, **(extra or {})}, headers=headers
    )
    client.cookies.clear()
    return response


@dataclass
class Tokens:
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)

    @property
    def sid(self) -> str:
        return str(claims(self.access)["sid"])


async def login_ok(
    client: httpx.AsyncClient,
    identifier: str,
    password: str = DEFAULT_PASSWORD,
    *,
    headers: dict[str, str] | None = None,
    base: str = "",
) -> Tokens:
    response = await login(client, identifier, password, headers=headers, base=base)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("refresh_token"), "native login must return refresh_token in the body"
    return Tokens(body["access_token"], body["refresh_token"])


async def refresh_json(client: httpx.AsyncClient, token: str, base: str = "") -> httpx.Response:
    response = await client.post(f"{base}/auth/refresh", json={"refresh_token": token})
    client.cookies.clear()
    return response


async def refresh_ok(client: httpx.AsyncClient, token: str) -> Tokens:
    response = await refresh_json(client, token)
    assert response.status_code == 200, response.text
    body = response.json()
    return Tokens(body["access_token"], body["refresh_token"])


async def me_status(client: httpx.AsyncClient, access: str, base: str = "") -> int:
    return (await client.get(f"{base}/auth/me", headers=bearer(access))).status_code


def items_of(body: Any) -> list[dict[str, Any]]:
    return body["items"] if isinstance(body, dict) and "items" in body else body


async def events(client: httpx.AsyncClient, admin: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/auth/events", params={"limit": 500, **params}, headers=admin)
    assert response.status_code == 200, response.text
    return items_of(response.json())


def comparable_headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS}


# --- a real SMTP server receiving the mails of a test


@dataclass
class Mail:
    to: list[str]
    subject: str
    text: str

    def links(self) -> list[str]:
        return re.findall(r"https?://[^\s\"'<>]+", self.text)

    def token(self, public_url: str) -> str:
        links = [link for link in self.links() if link.startswith(public_url.rstrip("/") + "/")]
        assert links, f"no link on the public URL {public_url} in: {self.text!r}"
        parts = urlsplit(links[0])
        query = parse_qs(parts.query)
        if "token" in query:
            return query["token"][0]
        fragment = parse_qs(parts.fragment)
        if "token" in fragment:
            return fragment["token"][0]
        return parts.path.rstrip("/").rsplit("/", 1)[-1]


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(
            envelope.original_content or envelope.content, policy=email.policy.default
        )
        texts = []
        for part in message.walk():
            if part.get_content_maintype() == "text":
                texts.append(part.get_content())
        with self._lock:
            self.mails.append(
                Mail(list(envelope.rcpt_tos), str(message.get("Subject", "")), "\n".join(texts))
            )
        return "250 OK"

    def to(self, address: str) -> list[Mail]:
        with self._lock:
            return [m for m in self.mails if address.lower() in [r.lower() for r in m.to]]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> list[Mail]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            got = self.to(address)
            if len(got) >= count:
                return got
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} mail(s) to {address}, got {len(self.to(address))}")
