"""Every event type of identity.md "Audit" is written by the flow it names, without secrets."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.identity.events import EVENT_TYPES
from basis.identity.models import AuthEvent, PasswordResetToken
from tests.fixtures.auth import MakeUser
from tests.identity.helpers import OTHER_PASSWORD, PASSWORD, bearer, login, register


async def test_every_event_type_is_recorded(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, str], session: AsyncSession
) -> None:
    secrets: list[str] = [PASSWORD, OTHER_PASSWORD]
    registered = (await register(client, "audited@example.com", client="native")).json()  # register
    secrets += [registered["access_token"], registered["refresh_token"]]
    client.cookies.clear()
    user_id = registered["user"]["id"]
    await login(client, "audited@example.com", "a wrong password")  # login_failure
    first = (await login(client, "audited@example.com", client="native")).json()  # login_success
    client.cookies.clear()
    rotated = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()  # refresh
    await client.post(
        "/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )  # refresh_reuse_detected
    second = (await login(client, "audited@example.com", client="native")).json()
    client.cookies.clear()
    third = (await login(client, "audited@example.com", client="native")).json()
    client.cookies.clear()
    secrets += [
        first["refresh_token"],
        rotated["refresh_token"],
        second["refresh_token"],
        third["refresh_token"],
    ]
    await client.post("/auth/logout", headers=bearer(second["access_token"]))  # logout
    sid = next(
        s["id"]
        for s in (await client.get("/auth/sessions", headers=bearer(third["access_token"]))).json()
        if s["current"]
    )
    fourth = (await login(client, "audited@example.com", client="native")).json()
    client.cookies.clear()
    await client.delete(f"/auth/sessions/{sid}", headers=bearer(fourth["access_token"]))  # session_revoked
    await client.post(
        "/auth/password/change",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers=bearer(fourth["access_token"]),
    )  # password_changed
    await client.post("/auth/logout-all", headers=bearer(fourth["access_token"]))  # logout_all
    await client.post(
        "/auth/password-reset/request", json={"email": "audited@example.com"}
    )  # password_reset_requested
    await client.patch(f"/users/{user_id}", json={"role": "operator"}, headers=admin_headers)  # role_changed
    for _ in range(6):
        await login(client, "audited@example.com", "guessing now")  # login_rate_limited
    await client.patch(
        f"/users/{user_id}", json={"is_active": False}, headers=admin_headers
    )  # user_deactivated

    counts = (await client.get("/auth/events/counts", headers=admin_headers)).json()
    missing = set(EVENT_TYPES) - set(counts) - {"password_reset_completed"}
    assert not missing, missing
    assert (await session.execute(select(PasswordResetToken))).scalars().first() is not None
    await session.rollback()

    rows = [
        (r.event_type, r.details, r.user_agent, r.created_at)
        for r in (await session.execute(select(AuthEvent))).scalars()
    ]
    await session.rollback()
    dump = repr([(details, agent) for _, details, agent, _ in rows])
    for secret in secrets:
        assert secret not in dump
    assert all(created.tzinfo is not None for *_, created in rows)
    assert all(kind in EVENT_TYPES for kind, *_ in rows)


async def test_events_list_is_newest_first(
    client: httpx.AsyncClient, make_user: MakeUser, admin_headers: dict[str, Any]
) -> None:
    await make_user(email="order@example.com")
    await login(client, "order@example.com", "first wrong one")
    await login(client, "order@example.com")
    items = (await client.get("/auth/events", headers=admin_headers)).json()["items"]
    stamps = [item["created_at"] for item in items]
    assert stamps == sorted(stamps, reverse=True)
