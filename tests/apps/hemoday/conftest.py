"""HemoDay test helpers: families registered through the API, and sync calls as a device makes them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

_numbers = itertools.count(1)
PASSWORD = "blood-diary-2026"


@dataclass
class Person:
    """One account of the app, with its token, and the sync calls its device makes."""

    client: httpx.AsyncClient
    email: str
    token: dict[str, Any]
    last_pulled_at: int | None = None
    pulled: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token['access_token']}"}

    async def get(self, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.client.get(f"/api/v1{path}", headers=self.headers, **kwargs)
        assert response.status_code == expect, response.text
        return (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else response
        )

    async def post(self, path: str, body: Any = None, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.client.post(f"/api/v1{path}", json=body, headers=self.headers, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def pull(self, since: int | None = None) -> dict[str, Any]:
        since = self.last_pulled_at if since is None else since
        params = {"schema_version": 7}
        if since is not None:
            params["last_pulled_at"] = since
        answer = await self.get("/sync", params=params)
        self.last_pulled_at = answer["timestamp"]
        self.pulled.append(answer)
        return answer["changes"]

    async def push(
        self, changes: dict[str, Any], expect: int = 200, last_pulled_at: int | None = None
    ) -> Any:
        since = self.last_pulled_at if last_pulled_at is None else last_pulled_at
        return await self.post("/sync", {"changes": changes, "last_pulled_at": since}, expect=expect)


@dataclass
class HemoDay:
    client: httpx.AsyncClient

    async def register(self, email: str | None = None, expect: int = 201) -> Person:
        email = email or f"parent{next(_numbers)}@example.com"
        response = await self.client.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == expect, response.text
        return Person(self.client, email, response.json())

    async def join(self, invite_code: str, email: str | None = None, expect: int = 201) -> Person:
        email = email or f"relative{next(_numbers)}@example.com"
        response = await self.client.post(
            "/api/v1/auth/join-family",
            json={"email": email, "password": PASSWORD, "invite_code": invite_code},
        )
        assert response.status_code == expect, response.text
        return Person(self.client, email, response.json())


@pytest.fixture
def hemoday(client: httpx.AsyncClient) -> HemoDay:
    return HemoDay(client)


def transfusion(record_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "date": "2026-03-01",
        "component": "Эритроцитная масса",
        "volume": 300,
        "weight": 30,
        "hb_before": 85,
        "hb_after": 120,
        "chelator": "Эксиджад",
        "_status": "created",
        "_changed": "",
        "created_at": 1,
        "updated_at": 1,
        **fields,
    }


def only(table: str, kind: str, *records: Any) -> dict[str, Any]:
    return {table: {"created": [], "updated": [], "deleted": [], kind: list(records)}}
