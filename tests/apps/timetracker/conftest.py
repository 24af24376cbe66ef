"""Helpers for TimeTracker tests: employees, terminals and scans through the HTTP API."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.time import local_to_utc, to_ms, utcnow
from basis.settings import Settings
from tests.fixtures.auth import MakeUser, bearer_for

WARSAW = "Europe/Warsaw"
_uids = itertools.count(0x10)


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0, zone: str = WARSAW) -> dt.datetime:
    """The UTC instant of a Warsaw wall-clock time (unambiguous ones only)."""
    return local_to_utc(dt.datetime(y, m, d, hh, mm, ss), zone)


def ms(value: dt.datetime) -> int:
    return to_ms(value)


@dataclass
class TT:
    client: httpx.AsyncClient
    session: AsyncSession
    settings: Settings
    make_user: MakeUser
    admin: dict[str, str]
    keys: dict[int, str] = field(default_factory=dict)

    async def headers(self, role: str = "admin", **user: Any) -> dict[str, str]:
        """Bearer headers made now (inside a time travel, tokens must be issued there)."""
        return await bearer_for(self.session, self.settings, await self.make_user(role=role, **user))

    async def employee(self, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        number = next(_uids)
        body = {"full_name": f"Employee {number}", "nfc_uid": f"04:A0:{number:04X}", **fields}
        response = await self.client.post("/api/employees", json=body, headers=headers or self.admin)
        assert response.status_code == 201, response.text
        return response.json()

    async def terminal(
        self, name: str | None = None, headers: dict[str, str] | None = None, **fields: Any
    ) -> tuple[int, str]:
        body = {"name": name or f"Door {next(_uids)}", **fields}
        response = await self.client.post("/api/terminals", json=body, headers=headers or self.admin)
        assert response.status_code == 201, response.text
        data = response.json()
        self.keys[data["id"]] = data["api_key"]
        return data["id"], data["api_key"]

    async def scan(
        self,
        key: str,
        uid: str,
        ts: dt.datetime | int | None = None,
        direction: str | None = None,
        client_event_id: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {"uid": uid, **extra}
        if ts is not None:
            body["ts"] = ts if isinstance(ts, int) else ms(ts)
        if direction is not None:
            body["direction"] = direction
        if client_event_id is not None:
            body["client_event_id"] = client_event_id
        return await self.client.post("/api/terminal/scan", json=body, headers={"X-Terminal-Key": key})

    async def events(
        self, employee_id: int, headers: dict[str, str] | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/events",
            params={"employee_id": employee_id, "limit": 500, **params},
            headers=headers or self.admin,
        )
        assert response.status_code == 200, response.text
        return sorted(response.json()["items"], key=lambda e: (e["ts"], e["id"]))

    async def manual(
        self,
        employee_id: int,
        timestamp: str,
        direction: str,
        comment: str = "fix",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body = {
            "employee_id": employee_id,
            "timestamp": timestamp,
            "direction": direction,
            "comment": comment,
            **extra,
        }
        return await self.client.post("/api/events/manual", json=body, headers=headers or self.admin)

    async def daily(
        self, employee_id: int, first: str, last: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/stats/employee/{employee_id}/daily",
            params={"from_date": first, "to_date": last},
            headers=headers or self.admin,
        )
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def tt(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
    admin_headers: dict[str, str],
) -> TT:
    return TT(client=client, session=session, settings=settings, make_user=make_user, admin=admin_headers)


def now_ms() -> int:
    return ms(utcnow())
