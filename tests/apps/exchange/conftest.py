"""Exchange test helpers: members with tokens and cities, and the API as they use it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from basis.settings import Settings
from tests.fixtures.auth import MakeUser, bearer_for

ALMATY, ASTANA, SHYMKENT = "Алматы", "Астана", "Шымкент"
_names = itertools.count(1)


@dataclass
class Member:
    id: int
    headers: dict[str, str]
    role: str = "user"


def item(name: str | None = None, value: int = 10_000, **fields: Any) -> dict[str, Any]:
    return {"item_name": name or f"Thing {next(_names)}", "value_tenge": value, **fields}


def lend(value: int, days: int, name: str | None = None, **fields: Any) -> dict[str, Any]:
    return item(name, value, exchange_type="temporary", duration_days=days, **fields)


@dataclass
class Exchange:
    """The API as members use it; every helper asserts the expected status."""

    client: httpx.AsyncClient
    make_user: MakeUser
    session: AsyncSession
    settings: Settings
    admin: Member | None = None
    members: list[Member] = field(default_factory=list)

    @property
    def app(self) -> FastAPI:
        return self.client.app  # type: ignore[attr-defined, no-any-return]

    async def member(self, *cities: str, role: str = "user") -> Member:
        user = await self.make_user(role=role)
        member = Member(user.id, await bearer_for(self.session, self.settings, user), role)
        if cities:
            await self.locations(member, list(cities))
        return member

    async def admin_member(self) -> Member:
        if self.admin is None:
            self.admin = await self.member(role="admin")
        return self.admin

    async def locations(self, member: Member, cities: list[str], expect: int = 200) -> dict[str, Any]:
        r = await self.client.put(
            f"/api/users/{member.id}/locations", json={"locations": cities}, headers=member.headers
        )
        assert r.status_code == expect, r.text
        return r.json()

    async def create(
        self,
        member: Member,
        *,
        wants: dict[str, list[dict[str, Any]]] | None = None,
        offers: dict[str, list[dict[str, Any]]] | None = None,
        expect: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        body = {"wants": wants or {}, "offers": offers or {}, **extra}
        r = await self.client.post("/api/listings/create-by-categories", json=body, headers=member.headers)
        assert r.status_code == expect, r.text
        return r.json()

    async def swap(
        self, member: Member, give: str, get: str, give_value: int, get_value: int | None = None
    ) -> dict[str, Any]:
        """One offer and one want, permanent."""
        return await self.create(
            member,
            offers={give: [item(value=give_value)]},
            wants={get: [item(value=get_value or give_value)]},
        )

    async def settle(self) -> None:
        """Waits for the background re-matching queued so far."""
        await self.app.state.infra.jobs.drain(timeout=30)

    async def run(self, member: Member, user_id: Any = "self", expect: int = 200) -> dict[str, Any]:
        body = {"user_id": member.id if user_id == "self" else user_id}
        r = await self.client.post("/api/matching/run-pipeline", json=body, headers=member.headers)
        assert r.status_code == expect, r.text
        return r.json()

    async def proposals(self, member: Member, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        r = await self.client.get("/api/exchanges/my-exchanges", params=params, headers=member.headers)
        assert r.status_code == 200, r.text
        return r.json()["exchanges"]  # type: ignore[no-any-return]

    async def act(
        self, member: Member, exchange_id: str, action: str, expect: int = 200, **body: Any
    ) -> dict[str, Any]:
        path = (
            f"/api/exchanges/{exchange_id}/confirm"
            if action == "confirm"
            else f"/api/chains/{exchange_id}/{action}"
        )
        r = await self.client.post(path, json=body or None, headers=member.headers)
        assert r.status_code == expect, r.text
        return r.json()

    async def exchange(self, member: Member, exchange_id: str, expect: int = 200) -> dict[str, Any]:
        r = await self.client.get(f"/api/exchanges/{exchange_id}", headers=member.headers)
        assert r.status_code == expect, r.text
        return r.json()


@pytest.fixture
async def ex(
    client: httpx.AsyncClient, make_user: MakeUser, session: AsyncSession, settings: Settings
) -> Exchange:
    return Exchange(client, make_user, session, settings)
