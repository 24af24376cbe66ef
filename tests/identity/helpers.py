"""Small helpers for identity tests."""

from __future__ import annotations

from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "a different long passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(
    http: httpx.AsyncClient, login_name: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    return await http.post("/auth/login", json={"login": login_name, "password": password, **extra})


async def login_token(client: httpx.AsyncClient, login_name: str, password: str = PASSWORD) -> str:
    response = await login(client, login_name, password)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def register(
    http: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: Any
) -> httpx.Response:
    return await http.post("/auth/register", json={"email": email, "password": password, **extra})


async def events(
    client: httpx.AsyncClient, admin_headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/auth/events", params={"limit": 500, **params}, headers=admin_headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]
