"""Through outages: a call that cannot reach the database answers 503 with Retry-After and the
code ``unavailable`` (never a 500), the server recovers by itself when the database is back, and
logins that failed on the server's side never count towards a lockout.

The database is taken away by cutting a TCP proxy between Basis and the real server (open
connections reset, new ones closed), so other tests keep their database."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from basis.core import outage
from tests.fixtures.auth import DEFAULT_PASSWORD
from tests.support.proxy import CuttableProxy

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def _login(client: httpx.AsyncClient, login: str) -> httpx.Response:
    return await client.post("/auth/login", json={"login": login, "password": DEFAULT_PASSWORD})


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.request.url, response.status_code, response.text)
    assert response.json()["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0


async def test_calls_answer_503_while_the_database_is_down_and_recover_without_a_restart(
    database_proxy: tuple[CuttableProxy, str],
    make_client: ClientFactory,
    make_user: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, url = database_proxy
    monkeypatch.setattr(outage, "OUTAGES", outage.OutageLog())  # no quiet period from another test
    admin = await make_user(role="admin")
    async with make_client(database_url=url, auth_cache_seconds=0) as client:
        token = (await _login(client, admin.email)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", "/auth/me", None),
            ("GET", "/products", None),
            ("POST", "/products", {"name": "Tea", "sku": "TEA-1"}),
            ("GET", "/api/employees", None),
        ]
        for method, path, body in calls:
            assert (await client.request(method, path, json=body, headers=headers)).status_code < 300
        terminal = await client.post("/api/terminals", json={"name": "Door"}, headers=headers)
        employee = {"full_name": "Ann", "nfc_uid": "04:A0:00:01"}
        assert (await client.post("/api/employees", json=employee, headers=headers)).status_code == 201
        terminal_key = {"X-Terminal-Key": terminal.json()["api_key"]}

        async def scan(event: str) -> httpx.Response:
            body = {"uid": "04:A0:00:01", "client_event_id": event}
            return await client.post("/api/terminal/scan", json=body, headers=terminal_key)

        assert (await scan("before")).status_code < 300

        proxy.cut()
        with caplog.at_level(logging.WARNING, logger="basis.outage"):
            for _ in range(3):
                for method, path, body in calls:
                    _unavailable(await client.request(method, path, json=body, headers=headers))
            for _ in range(8):  # more than the 5 attempts per 15 minutes a login may take
                _unavailable(await _login(client, admin.email))
            for number in range(3):
                refused = await scan(f"during-{number}")
                assert refused.status_code == 503 and "Retry-After" in refused.headers, refused.text
        # One line for the outage, not a traceback per call.
        lines = [r for r in caplog.records if r.name == "basis.outage"]
        assert len(lines) == 1 and not lines[0].exc_info
        assert token not in caplog.text

        proxy.restore()
        for method, path, body in calls:
            body = {"name": "Coffee", "sku": "COF-1"} if body else None
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code < 300, (path, response.text)
        assert (await scan("during-0")).status_code < 300  # the terminal's resend is stored now
        # Logins that failed on the server's side counted against nobody: no lockout.
        assert (await _login(client, admin.email)).status_code == 200


async def test_while_redis_is_down_logins_stay_limited_and_a_logout_still_revokes(
    redis_proxy: tuple[CuttableProxy, str], make_client: ClientFactory, make_user: Any
) -> None:
    proxy, url = redis_proxy
    user, other, admin = await make_user(), await make_user(), await make_user(role="admin")
    async with make_client(redis_url=url) as client:
        token = (await _login(client, user.email)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/auth/me", headers=headers)).status_code == 200
        staff = {"Authorization": f"Bearer {(await _login(client, admin.email)).json()['access_token']}"}
        terminal = await client.post("/api/terminals", json={"name": "Door"}, headers=staff)
        employee = await client.post(
            "/api/employees", json={"full_name": "Ann", "nfc_uid": "04:A0:00:02"}, headers=staff
        )
        scan = {"uid": "04:A0:00:02", "client_event_id": "while-redis-is-away"}
        terminal_key = {"X-Terminal-Key": terminal.json()["api_key"]}

        proxy.cut()
        # Terminals keep scanning, and a resend is still recognised (by the database).
        answers = [
            await client.post("/api/terminal/scan", json=scan, headers=terminal_key) for _ in range(2)
        ]
        assert [a.status_code < 300 for a in answers] == [True, True], [a.text for a in answers]
        assert answers[0].json()["event_id"] == answers[1].json()["event_id"]
        events = await client.get(
            "/api/events", params={"employee_id": employee.json()["id"]}, headers=staff
        )
        assert events.json()["total"] == 1
        # Reads authenticate against the database; logins are limited in the process meanwhile.
        assert (await client.get("/auth/me", headers=headers)).status_code == 200
        second = await _login(client, user.email)
        assert second.status_code == 200, second.text
        wrong = [
            (await client.post("/auth/login", json={"login": other.email, "password": "not it"})).status_code
            for _ in range(6)
        ]
        assert wrong == [401] * 5 + [429]
        # A logout is durable in the database before it answers, and refused from then on.
        client.cookies.clear()  # log out the bearer's session, not the refresh cookie's
        assert (await client.post("/auth/logout", headers=headers)).status_code == 200
        assert (await client.get("/auth/me", headers=headers)).status_code == 401

        proxy.restore()
        assert (await client.get("/auth/me", headers=headers)).status_code == 401
        fresh = {"Authorization": f"Bearer {second.json()['access_token']}"}
        assert (await client.get("/auth/me", headers=fresh)).status_code == 200
        # Pooled Redis connections died with the outage: the first calls that use them succeed.
        assert (await _login(client, user.email)).status_code == 200
        back = {**scan, "client_event_id": "back"}
        again = await client.post("/api/terminal/scan", json=back, headers=terminal_key)
        assert again.status_code < 300, again.text
