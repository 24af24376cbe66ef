"""Accounts and families (rules 13-19): register, join, login, leave, remove, ownership."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
from fastapi import FastAPI

from basis.core.mail import OutboxMailer
from tests.apps.hemoday.conftest import PASSWORD, HemoDay, transfusion


async def test_register_gives_a_token_and_a_family_of_ones_own(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register("Mama@Example.com")
    token = parent.token
    assert token["token_type"] == "bearer"
    assert uuid.UUID(token["user_id"]) and uuid.UUID(token["family_id"])
    assert len(token["invite_code"]) == 6 and token["invite_code"].isalnum()

    me = await parent.get("/auth/me")
    assert me["id"] == token["user_id"] and me["family_id"] == token["family_id"]
    assert me["email"] == "mama@example.com" and me["invite_code"] == token["invite_code"]
    assert "T" in me["created_at"]

    family = await parent.get("/family/")
    assert family["owner_id"] == token["user_id"] and family["patient_name"] is None
    assert [(m["id"], m["role"]) for m in family["members"]] == [(token["user_id"], "owner")]

    # The app account is a core account: the core's login works, and its token works here.
    core = await client.post("/auth/login", json={"email": "mama@example.com", "password": PASSWORD})
    assert core.status_code == 200 and core.json()["role"] == "user"
    core_me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {core.json()['access_token']}"}
    )
    assert core_me.json()["family_id"] == token["family_id"]
    # ...and the app token works on the core's /auth/me.
    assert (await client.get("/auth/me", headers=parent.headers)).status_code == 200


async def test_register_refuses_taken_emails_weak_passwords_and_ignores_a_role(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    await hemoday.register("dad@example.com")
    taken = await client.post(
        "/api/v1/auth/register", json={"email": "DAD@example.com", "password": PASSWORD}
    )
    assert taken.status_code == 409
    weak = await client.post("/api/v1/auth/register", json={"email": "x@example.com", "password": "short"})
    assert weak.status_code == 422
    malformed = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD}
    )
    assert malformed.status_code == 422
    admin = await client.post(
        "/api/v1/auth/register", json={"email": "sneaky@example.com", "password": PASSWORD, "role": "admin"}
    )
    assert admin.status_code == 201
    core = await client.post("/auth/login", json={"email": "sneaky@example.com", "password": PASSWORD})
    assert core.json()["role"] == "user"


async def test_login_and_every_failure_is_the_same_401(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    ok = await client.post("/api/v1/auth/login", json={"email": parent.email.upper(), "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["family_id"] == parent.token["family_id"]
    assert ok.json()["user_id"] == parent.token["user_id"]
    bodies = []
    for email, password in (
        (parent.email, "wrong-password"),
        ("nobody@example.com", PASSWORD),
        ("bad", PASSWORD),
    ):
        response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 401
        bodies.append(response.json())
    assert all(body == {"detail": "Invalid credentials", "code": "invalid_credentials"} for body in bodies)
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert (await client.get("/api/v1/sync", headers={"Authorization": "Bearer nonsense"})).status_code == 401


async def test_join_family_by_code_in_any_case(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    grandma = await hemoday.join(parent.token["invite_code"].lower())
    assert grandma.token["family_id"] == parent.token["family_id"]
    family = await grandma.get("/family")
    assert {m["role"] for m in family["members"]} == {"owner", "member"}

    unknown = await client.post(
        "/api/v1/auth/join-family",
        json={"email": "x1@example.com", "password": PASSWORD, "invite_code": "ZZZZZ9"},
    )
    assert unknown.status_code == 404
    short = await client.post(
        "/api/v1/auth/join-family",
        json={"email": "x2@example.com", "password": PASSWORD, "invite_code": "ABC"},
    )
    assert short.status_code == 422
    # A failed join-family leaves no account behind.
    login = await client.post("/api/v1/auth/login", json={"email": "x1@example.com", "password": PASSWORD})
    assert login.status_code == 401


async def test_guessing_invite_codes_is_limited_per_ip_and_per_account(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register()
    code = parent.token["invite_code"]
    wrong = "000000" if code != "000000" else "111111"
    for n in range(10):
        response = await client.post(
            "/api/v1/auth/join-family",
            json={"email": f"g{n}@example.com", "password": PASSWORD, "invite_code": wrong},
        )
        assert response.status_code == 404
    blocked = await client.post(
        "/api/v1/auth/join-family", json={"email": "g@example.com", "password": PASSWORD, "invite_code": code}
    )
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0

    guesser = await hemoday.register()
    for _ in range(10):
        await guesser.post("/family/join", {"invite_code": wrong}, expect=404)
    await guesser.post("/family/join", {"invite_code": code}, expect=429)


async def test_family_join_moves_a_lone_user_and_their_records_stay(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    dad = await hemoday.register()
    await dad.pull()
    await dad.push({"transfusions": {"created": [transfusion("t-dad")], "updated": [], "deleted": []}})
    moved = await dad.post("/family/join", {"invite_code": parent.token["invite_code"]})
    assert moved["family_id"] == parent.token["family_id"]
    # The same token now reads the new family: the family is read per request.
    assert (await dad.get("/auth/me"))["family_id"] == parent.token["family_id"]
    changes = await dad.pull(since=0)
    assert [r["id"] for r in changes["transfusions"]["created"]] == []

    # Joining while one's own family has other members is refused.
    other = await hemoday.register()
    await hemoday.join(other.token["invite_code"])
    await other.post("/family/join", {"invite_code": parent.token["invite_code"]}, expect=409)


async def test_leave_gives_a_new_family_and_an_owner_with_members_cannot(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    aunt = await hemoday.join(parent.token["invite_code"])
    await parent.post("/family/leave", expect=409)
    left = await aunt.post("/family/leave")
    assert left["family_id"] != parent.token["family_id"]
    me = await aunt.get("/family")
    assert me["owner_id"] == aunt.token["user_id"] and len(me["members"]) == 1


async def test_removed_member_loses_access_at_once(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    await parent.pull()
    await parent.push({"transfusions": {"created": [transfusion("t1")], "updated": [], "deleted": []}})
    nanny = await hemoday.join(parent.token["invite_code"])
    seen = await nanny.pull()
    assert [r["id"] for r in seen["transfusions"]["created"]] == ["t1"]

    # A member cannot remove anyone; the owner cannot remove themself.
    await nanny.post("/family/remove-member", {"user_id": parent.token["user_id"]}, expect=403)
    await parent.post("/family/remove-member", {"user_id": parent.token["user_id"]}, expect=400)

    family = await parent.post("/family/remove-member", {"user_id": nanny.token["user_id"]})
    assert [m["id"] for m in family["members"]] == [parent.token["user_id"]]
    # The nanny's old token still works, but on a family of her own with nothing in it.
    after = await nanny.pull(since=0)
    assert after["transfusions"]["created"] == []
    assert (await nanny.get("/auth/me"))["family_id"] != parent.token["family_id"]

    # Anyone outside the family is answered exactly like an unknown id.
    stranger = await hemoday.register()
    outside = await client.delete(
        f"/api/v1/family/members/{stranger.token['user_id']}", headers=parent.headers
    )
    unknown = await client.delete(f"/api/v1/family/members/{uuid.uuid4()}", headers=parent.headers)
    assert outside.status_code == unknown.status_code == 404
    assert outside.json() == unknown.json()


async def test_delete_member_and_transfer_ownership(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    uncle = await hemoday.join(parent.token["invite_code"])
    doctor = await hemoday.join(parent.token["invite_code"])
    await uncle.post("/family/transfer-ownership", {"user_id": uncle.token["user_id"]}, expect=403)
    family = await parent.post("/family/transfer-ownership", {"user_id": doctor.token["user_id"]})
    assert family["owner_id"] == doctor.token["user_id"]
    roles = {m["id"]: m["role"] for m in family["members"]}
    assert roles[doctor.token["user_id"]] == "owner" and roles[parent.token["user_id"]] == "member"
    # The new owner may now remove; the former owner may not.
    await parent.post("/family/invite-code", expect=403)
    response = await client.delete(f"/api/v1/family/members/{uncle.token['user_id']}", headers=doctor.headers)
    assert response.status_code == 200
    assert len(response.json()["members"]) == 2


async def test_invite_code_regenerated_by_the_owner_retires_the_old_one(hemoday: HemoDay) -> None:
    parent = await hemoday.register()
    old = parent.token["invite_code"]
    new = (await parent.post("/family/invite-code"))["invite_code"]
    assert new != old and len(new) == 6
    await hemoday.join(old, expect=404)
    await hemoday.join(new)


async def test_patch_family_checks_every_value(hemoday: HemoDay, client: httpx.AsyncClient) -> None:
    parent = await hemoday.register()
    member = await hemoday.join(parent.token["invite_code"])
    changed = await client.patch(
        "/api/v1/family",
        json={"patient_name": "Аня", "patient_birth_date": "2018-05-04", "patient_current_weight": 24.5},
        headers=member.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["patient_name"], body["patient_birth_date"], body["patient_current_weight"]) == (
        "Аня",
        "2018-05-04",
        24.5,
    )
    for bad in (
        {"patient_birth_date": "2999-01-01"},
        {"patient_birth_date": "04.05.2018"},
        {"patient_current_weight": 0},
        {"patient_current_weight": 401},
        {"patient_current_weight": True},
        {"patient_name": "Аня", "patient_current_weight": -1},
    ):
        response = await client.patch("/api/v1/family", json=bad, headers=parent.headers)
        assert response.status_code == 422, bad
    assert (await parent.get("/family"))["patient_current_weight"] == 24.5


async def test_password_reset_request_answers_the_same_for_unknown_emails(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register()
    known = await client.post("/api/v1/auth/password-reset/request", json={"email": parent.email})
    unknown = await client.post("/api/v1/auth/password-reset/request", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json() and "message" in known.json()
    bad = await client.post("/api/v1/auth/password-reset/request", json={"email": "nope"})
    assert bad.status_code == 422
    # It never changes the password.
    login = await client.post("/api/v1/auth/login", json={"email": parent.email, "password": PASSWORD})
    assert login.status_code == 200


async def test_reset_link_opens_a_page_that_sets_the_new_password(
    hemoday: HemoDay, client: httpx.AsyncClient, app: FastAPI
) -> None:
    parent = await hemoday.register()
    await client.post("/api/v1/auth/password-reset/request", json={"email": parent.email})
    await app.state.infra.jobs.drain()
    outbox = app.state.infra.mailer
    assert isinstance(outbox, OutboxMailer)
    [mail] = [m for m in outbox.read() if m["to"] == [parent.email]]
    link = re.search(r"(http://testserver/reset-password)#token=(\S+)", str(mail["text"]))
    assert link is not None
    page = await client.get(link.group(1).removeprefix("http://testserver"))
    assert page.status_code == 200 and "<form" in page.text and 'name="new_password"' in page.text

    weak = await client.post("/reset-password", data={"token": link.group(2), "new_password": "short"})
    assert weak.status_code == 422 and "<form" in weak.text
    done = await client.post(
        "/reset-password", data={"token": link.group(2), "new_password": "a-new-family-secret-9"}
    )
    assert done.status_code == 200, done.text
    again = await client.post(
        "/reset-password", data={"token": link.group(2), "new_password": "another-secret-99"}
    )
    assert again.status_code == 400
    # The reset ended the old app token at once; the new password signs in.
    assert (await client.get("/api/v1/auth/me", headers=parent.headers)).status_code == 401
    login = await client.post(
        "/api/v1/auth/login", json={"email": parent.email, "password": "a-new-family-secret-9"}
    )
    assert login.status_code == 200


async def test_app_tokens_are_core_sessions_that_logout_ends(
    hemoday: HemoDay, client: httpx.AsyncClient
) -> None:
    parent = await hemoday.register()
    other_device = await client.post("/api/v1/auth/login", json={"email": parent.email, "password": PASSWORD})
    assert (await client.post("/auth/logout", headers=parent.headers)).status_code == 200
    assert (await client.get("/api/v1/sync", headers=parent.headers)).status_code == 401
    # Another device's session goes on.
    still = {"Authorization": f"Bearer {other_device.json()['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=still)).status_code == 200


async def test_a_core_account_gets_a_family_of_its_own_on_first_use(
    client: httpx.AsyncClient, user_headers: dict[str, str]
) -> None:
    first, second = await asyncio.gather(
        client.get("/api/v1/auth/me", headers=user_headers),
        client.get("/api/v1/family", headers=user_headers),
    )
    assert first.status_code == second.status_code == 200
    assert first.json()["family_id"] == second.json()["id"]
    assert [m["role"] for m in second.json()["members"]] == ["owner"]
