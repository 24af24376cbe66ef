"""Several real server processes: two taps of one card at two terminals end as one event (R8),
and the live feed reaches a socket held by another process (Redis)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from basis.core.time import to_ms, utcnow
from basis.settings import Settings
from tests.fixtures.auth import DEFAULT_PASSWORD, MakeUser, bearer_for

pytestmark = pytest.mark.slow


async def _setup(
    base: str, headers: dict[str, str], employees: int
) -> tuple[list[str], list[dict[str, Any]]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        keys = []
        for name in ("Door A", "Door B"):
            response = await client.post("/api/terminals", json={"name": name}, headers=headers)
            assert response.status_code == 201, response.text
            keys.append(response.json()["api_key"])
        people = []
        for i in range(employees):
            response = await client.post(
                "/api/employees", json={"full_name": f"Racer {i}", "nfc_uid": f"0A{i:04X}"}, headers=headers
            )
            assert response.status_code == 201, response.text
            people.append(response.json())
    return keys, people


async def test_simultaneous_taps_at_two_terminals_are_one_event(
    live_servers: Callable[..., Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    admin = await bearer_for(session, settings, await make_user(role="admin"))
    with live_servers(2, redis_url=redis_url) as (first, second):
        keys, people = await _setup(first, admin, employees=12)
        async with httpx.AsyncClient(timeout=30) as client:

            async def tap(base: str, key: str, uid: str, ts: int) -> dict[str, Any]:
                response = await client.post(
                    f"{base}/api/terminal/scan", json={"uid": uid, "ts": ts}, headers={"X-Terminal-Key": key}
                )
                assert response.status_code == 200, response.text
                return response.json()

            now = to_ms(utcnow())
            rounds = []
            for person in people:
                # The same card at both doors, 50 ms apart, sent at once to two processes.
                rounds.append(
                    asyncio.gather(
                        tap(first, keys[0], person["nfc_uid"], now),
                        tap(second, keys[1], person["nfc_uid"], now + 50),
                    )
                )
            answers = await asyncio.gather(*rounds)
            for a, b in answers:
                assert sorted([a["status"], b["status"]]) == ["accepted", "duplicate"], (a, b)
                assert a["event_id"] == b["event_id"]
                assert a["direction"] == b["direction"] == "IN"
            events = await client.get(f"{second}/api/events", params={"limit": 500}, headers=admin)
            assert events.json()["total"] == len(people)


async def test_live_feed_crosses_processes_and_needs_a_staff_token(
    backend: str,
    live_servers: Callable[..., Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    if backend != "postgresql":
        pytest.skip("the feed goes through Redis, not the database: checked once, on PostgreSQL")
    admin = await bearer_for(session, settings, await make_user(role="admin"))
    operator_token = (await bearer_for(session, settings, await make_user(role="operator")))["Authorization"][
        7:
    ]
    user_token = (await bearer_for(session, settings, await make_user(role="user")))["Authorization"][7:]
    with live_servers(2, redis_url=redis_url) as (first, second):
        keys, people = await _setup(first, admin, employees=1)
        ws_base = first.replace("http://", "ws://")
        for token in ("", "not-a-token", user_token):
            async with connect(f"{ws_base}/api/ws/scans?token={token}") as socket:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(socket.recv(), timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        async with connect(f"{ws_base}/api/ws/scans?token={operator_token}") as socket:
            await asyncio.sleep(0.3)  # the subscription is in place before the scan
            async with httpx.AsyncClient(base_url=second, timeout=30) as client:
                refused = await client.post(
                    "/api/terminal/scan", json={"uid": "FFFFFF"}, headers={"X-Terminal-Key": keys[1]}
                )
                assert refused.status_code == 404
                accepted = await client.post(
                    "/api/terminal/scan",
                    json={"uid": people[0]["nfc_uid"]},
                    headers={"X-Terminal-Key": keys[1]},
                )
                assert accepted.status_code == 200
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            assert message["type"] == "scan"
            assert message["event"]["id"] == accepted.json()["event_id"]
            assert message["event"]["direction"] == "IN" and message["event"]["terminal_name"] == "Door B"
            assert message["employee"] == {"id": people[0]["id"], "full_name": people[0]["full_name"]}
            # Only accepted scans are sent: the refused one never arrived before it.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(socket.recv(), timeout=0.5)


async def test_a_rotated_key_or_deactivated_terminal_stops_at_once_in_every_process(
    live_servers: Callable[..., Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    """Each process remembers terminal keys for the scan routes; its writer checks them again,
    so a change made through another process counts from the next scan on."""
    admin = await bearer_for(session, settings, await make_user(role="admin"))
    with live_servers(2, redis_url=redis_url) as (first, second):
        keys, people = await _setup(first, admin, employees=1)
        uid = people[0]["nfc_uid"]
        async with httpx.AsyncClient(timeout=30) as client:

            async def scan(key: str, minutes_ago: int) -> httpx.Response:
                ts = to_ms(utcnow()) - minutes_ago * 60_000
                return await client.post(
                    f"{second}/api/terminal/scan",
                    json={"uid": uid, "ts": ts},
                    headers={"X-Terminal-Key": key},
                )

            assert (await scan(keys[0], 50)).status_code == 200  # the second process now knows the key
            terminals = (await client.get(f"{first}/api/terminals", headers=admin)).json()["items"]
            door = next(t for t in terminals if t["name"] == "Door A")
            rotated = await client.post(f"{first}/api/terminals/{door['id']}/rotate-key", headers=admin)
            assert rotated.status_code == 200
            old = await scan(keys[0], 40)
            assert old.status_code == 401 and old.json()["code"] == "unknown_terminal"
            assert (await scan(rotated.json()["api_key"], 30)).status_code == 200
            other = next(t for t in terminals if t["name"] == "Door B")
            assert (await scan(keys[1], 20)).status_code == 200
            patched = await client.patch(
                f"{first}/api/terminals/{other['id']}", json={"is_active": False}, headers=admin
            )
            assert patched.status_code == 200
            refused = await scan(keys[1], 10)
            assert refused.status_code == 403 and refused.json()["code"] == "terminal_inactive"
            events = await client.get(
                f"{first}/api/events", params={"employee_id": people[0]["id"]}, headers=admin
            )
            assert events.json()["total"] == 3


async def _closed_with(socket: Any, within: float) -> int:
    """The close code the server sent within ``within`` seconds (scan messages are skipped)."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(within):
            while True:
                await socket.recv()
    assert closed.value.rcvd is not None, "the server did not close the socket"
    return closed.value.rcvd.code


async def test_an_open_feed_closes_when_its_caller_loses_access_in_another_process(
    backend: str,
    live_servers: Callable[..., Any],
    redis_url: str,
    session: AsyncSession,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    """A socket held by process B closes within 5 s of a logout, a role change or a
    deactivation handled by process A (4401 for an ended session, 1008 for a lost role)."""
    if backend != "postgresql":
        pytest.skip("sockets cross processes through Redis, not the database: checked once, on PostgreSQL")
    admin = await bearer_for(session, settings, await make_user(role="admin"))
    leaving, demoted, fired = [await make_user(role="operator") for _ in range(3)]
    with live_servers(2, redis_url=redis_url) as (first, second):
        ws_base = second.replace("http://", "ws://")
        tokens = {}
        async with httpx.AsyncClient(base_url=first, timeout=30) as client:
            for user in (leaving, demoted, fired):
                body = {"email": user.email, "password": DEFAULT_PASSWORD, "client": "native"}
                login = await client.post("/auth/login", json=body)
                assert login.status_code == 200, login.text
                tokens[user.id] = login.json()["access_token"]
            client.cookies.clear()  # log out by the Bearer token, not by the cookie of the last login
            # Three ways to present the token: the header, the subprotocol, the original's query.
            async with (
                connect(
                    f"{ws_base}/api/ws/scans",
                    additional_headers={"Authorization": f"Bearer {tokens[leaving.id]}"},
                ) as by_header,
                connect(
                    f"{ws_base}/api/ws/scans", subprotocols=["bearer", tokens[demoted.id]]  # type: ignore[list-item]
                ) as by_protocol,
                connect(f"{ws_base}/api/ws/scans?token={tokens[fired.id]}") as by_query,
            ):
                assert by_protocol.subprotocol == "bearer"
                await asyncio.sleep(0.3)
                ended = {"Authorization": f"Bearer {tokens[leaving.id]}"}
                logout = await client.post("/auth/logout", headers=ended)
                assert logout.status_code == 200
                assert await _closed_with(by_header, within=5) == 4401
                demote = await client.patch(f"/users/{demoted.id}", json={"role": "user"}, headers=admin)
                assert demote.status_code == 200
                assert await _closed_with(by_protocol, within=5) == 1008
                fire = await client.patch(f"/users/{fired.id}", json={"is_active": False}, headers=admin)
                assert fire.status_code == 200
                assert await _closed_with(by_query, within=5) == 4401
