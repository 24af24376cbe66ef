"""Area 6: terminal authentication, impersonation and signed scans (R7, terminal protocol)."""

from __future__ import annotations

import base64
import datetime as dt
import os
from functools import lru_cache
from typing import Any

import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.apps.timetracker.conftest import TT

from .helpers import check, ms, now, term


def _calls(uid: str = "0011223344") -> list[tuple[str, dict[str, Any] | None]]:
    nonce = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return [
        ("/api/terminal/scan", {"uid": uid}),
        ("/api/terminal/scans", {"scans": [{"uid": uid}]}),
        ("/api/terminal/challenge", {}),
        (
            "/api/terminal/secure-scan",
            {"employee_uid": uid, "ts": ms(now()), "challenge_b64": nonce, "signature_b64": nonce},
        ),
        ("/api/terminal/heartbeat", None),
        ("/api/register/first-scan", {"employee_uid": uid, "public_key_b64": public_b64(phone(0))}),
    ]


@lru_cache(maxsize=4)
def phone(number: int) -> rsa.RSAPrivateKey:
    del number
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_b64(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sign(key: rsa.RSAPrivateKey, challenge_b64: str, *, urlsafe: bool = False) -> str:
    raw = base64.urlsafe_b64decode(challenge_b64 + "=" * (-len(challenge_b64) % 4))
    signature = key.sign(raw, padding.PKCS1v15(), hashes.SHA256())
    if urlsafe:
        return base64.urlsafe_b64encode(signature).decode().rstrip("=")
    return base64.b64encode(signature).decode()


async def post(tt: TT, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> Any:
    if body is None:
        return await tt.client.post(path, headers=headers)
    return await tt.client.post(path, json=body, headers=headers)


async def challenge(tt: TT, key: str) -> str:
    response = await tt.client.post("/api/terminal/challenge", json={}, headers=term(key))
    return check(response, 200)["challenge_b64"]


async def secure_scan(tt: TT, key: str, uid: str, nonce: str, signature: str, **extra: Any) -> Any:
    body = {"employee_uid": uid, "ts": ms(now()), "challenge_b64": nonce, "signature_b64": signature, **extra}
    return await tt.client.post("/api/terminal/secure-scan", json=body, headers=term(key))


async def enroll(tt: TT, key: str, employee: dict[str, Any], private: rsa.RSAPrivateKey) -> None:
    response = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64(private)},
        headers=term(key),
    )
    body = check(response, 202)
    assert body["status"] == "pending" and body["employee_id"] == employee["id"]


async def approve(tt: TT, employee: dict[str, Any]) -> None:
    check(await tt.client.post(f"/api/employees/{employee['id']}/key/approve", headers=tt.admin), 200)


async def phone_holder(tt: TT) -> tuple[dict[str, Any], str, rsa.RSAPrivateKey]:
    """An employee whose phone key is enrolled and approved, and a terminal's key."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    private = phone(1)
    await enroll(tt, key, employee, private)
    await approve(tt, employee)
    return employee, key, private


async def key_status(tt: TT, employee: dict[str, Any]) -> str:
    return check(await tt.client.get(f"/api/employees/{employee['id']}", headers=tt.admin), 200)["key_status"]


# ------------------------------------------------------------------ keys and terminals


async def test_missing_or_unknown_key_is_401_unknown_terminal_on_every_call(tt: TT) -> None:
    employee = await tt.employee()
    await tt.terminal()
    for path, body in _calls(employee["nfc_uid"]):
        for headers in ({}, term("tk_not-a-real-key"), term("")):
            check(await post(tt, path, body, headers), 401, "unknown_terminal")
    assert await tt.events(employee["id"]) == []
    assert await key_status(tt, employee) == "none"


async def test_body_terminal_id_of_another_terminal_is_403_mismatch(tt: TT) -> None:
    employee = await tt.employee()
    mine, key = await tt.terminal()
    other, _ = await tt.terminal()
    body = check(await tt.scan(key, employee["nfc_uid"], terminal_id=other), 403, "terminal_mismatch")
    assert body["ok"] is False
    assert await tt.events(employee["id"]) == []
    check(
        await tt.client.post("/api/terminal/challenge", json={"terminal_id": other}, headers=term(key)),
        403,
        "terminal_mismatch",
    )
    accepted = check(await tt.scan(key, employee["nfc_uid"], terminal_id=mine), 200)
    [event] = await tt.events(employee["id"])
    assert event["id"] == accepted["event_id"] and event["terminal_id"] == mine


async def test_the_key_decides_the_terminal(tt: TT) -> None:
    employee = await tt.employee()
    await tt.terminal()
    gate, gate_key = await tt.terminal()
    check(await tt.scan(gate_key, employee["nfc_uid"]), 200)
    [event] = await tt.events(employee["id"])
    assert event["terminal_id"] == gate


async def test_rotated_key_stops_at_once(tt: TT) -> None:
    employee = await tt.employee()
    terminal_id, old_key = await tt.terminal()
    check(await tt.client.post("/api/terminal/heartbeat", headers=term(old_key)), 200)
    rotated = check(await tt.client.post(f"/api/terminals/{terminal_id}/rotate-key", headers=tt.admin), 200)
    new_key = rotated["api_key"]
    assert new_key and new_key != old_key
    check(await tt.scan(old_key, employee["nfc_uid"]), 401, "unknown_terminal")
    check(await tt.client.post("/api/terminal/heartbeat", headers=term(old_key)), 401, "unknown_terminal")
    assert await tt.events(employee["id"]) == []
    check(await tt.scan(new_key, employee["nfc_uid"]), 200)
    # The key is shown once: never in the list.
    listing = check(await tt.client.get("/api/terminals", headers=tt.admin), 200)
    assert new_key not in str(listing) and old_key not in str(listing)
    assert all("api_key" not in t for t in listing["items"])


async def test_inactive_terminal_is_403_on_every_terminal_call(tt: TT) -> None:
    employee = await tt.employee()
    terminal_id, key = await tt.terminal()
    patched = await tt.client.patch(
        f"/api/terminals/{terminal_id}", json={"is_active": False}, headers=tt.admin
    )
    check(patched, 200)
    for path, body in _calls(employee["nfc_uid"]):
        check(await post(tt, path, body, term(key)), 403, "terminal_inactive")
    assert await tt.events(employee["id"]) == []
    assert await key_status(tt, employee) == "none"
    check(
        await tt.client.patch(f"/api/terminals/{terminal_id}", json={"is_active": True}, headers=tt.admin),
        200,
    )
    check(await tt.scan(key, employee["nfc_uid"]), 200)


async def test_terminals_cannot_call_staff_endpoints(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    as_bearer = {"Authorization": f"Bearer {key}"}
    for headers in (term(key), as_bearer, {**term(key), **as_bearer}):
        for method, path, body in [
            ("GET", "/api/employees", None),
            ("POST", "/api/employees", {"full_name": "Mallory", "nfc_uid": "0BADC0DE"}),
            ("PATCH", f"/api/employees/{employee['id']}", {"is_active": False}),
            ("GET", "/api/events", None),
            (
                "POST",
                "/api/events/manual",
                {
                    "employee_id": employee["id"],
                    "timestamp": "2026-10-20T08:00:00",
                    "direction": "IN",
                    "comment": "x",
                },
            ),
            ("GET", "/api/stats/summary", None),
            ("GET", f"/api/stats/employee/{employee['id']}/daily", None),
            ("GET", "/api/export/worktime.csv", None),
            ("GET", "/api/terminals", None),
            ("POST", "/api/terminals", {"name": "Rogue"}),
            ("POST", f"/api/employees/{employee['id']}/key/approve", None),
        ]:
            response = await tt.client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.status_code, response.text)
    employees = check(await tt.client.get("/api/employees", headers=tt.admin), 200)
    assert employees["total"] == 1 and employees["items"][0]["is_active"] is True
    assert (await tt.client.get("/api/terminals", headers=tt.admin)).json()["total"] == 1


async def test_unknown_card_and_inactive_employee_are_refused(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    check(await tt.scan(key, "FEEDFACE00"), 404, "unknown_card")
    check(
        await tt.client.patch(
            f"/api/employees/{employee['id']}", json={"is_active": False}, headers=tt.admin
        ),
        200,
    )
    check(await tt.scan(key, employee["nfc_uid"]), 403, "employee_inactive")
    listing = check(await tt.client.get("/api/events", params={"limit": 500}, headers=tt.admin), 200)
    assert listing["total"] == 0


# ------------------------------------------------------------------ signed scans


async def test_enrolled_key_is_pending_until_approved(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    private = phone(1)
    await enroll(tt, key, employee, private)
    assert await key_status(tt, employee) == "pending"
    nonce = await challenge(tt, key)
    check(await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce)), 403, "key_not_active")
    assert await tt.events(employee["id"]) == []
    await approve(tt, employee)
    assert await key_status(tt, employee) == "active"
    nonce = await challenge(tt, key)
    body = check(await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce)), 200)
    assert body["status"] == "accepted" and body["employee_id"] == employee["id"]
    assert len(await tt.events(employee["id"])) == 1
    # An active key is never replaced by a first scan.
    again = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64(phone(2))},
        headers=term(key),
    )
    check(again, 409, "key_already_active")
    unknown = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": "ABCDEF0123", "public_key_b64": public_b64(phone(2))},
        headers=term(key),
    )
    assert unknown.status_code == 404


async def test_challenge_is_single_use(tt: TT) -> None:
    employee, key, private = await phone_holder(tt)
    nonce = await challenge(tt, key)
    signature = sign(private, nonce)
    check(await secure_scan(tt, key, employee["nfc_uid"], nonce, signature), 200)
    replay = await secure_scan(tt, key, employee["nfc_uid"], nonce, signature)
    check(replay, 403, "invalid_challenge")
    assert len(await tt.events(employee["id"])) == 1


async def test_challenge_is_bound_to_the_terminal_that_asked(tt: TT) -> None:
    employee = await tt.employee()
    _, door = await tt.terminal()
    _, thief = await tt.terminal()
    private = phone(1)
    await enroll(tt, door, employee, private)
    await approve(tt, employee)
    nonce = await challenge(tt, door)
    check(
        await secure_scan(tt, thief, employee["nfc_uid"], nonce, sign(private, nonce)),
        403,
        "invalid_challenge",
    )
    assert await tt.events(employee["id"]) == []


async def test_unknown_and_expired_challenges_are_refused(tt: TT) -> None:
    employee, key, private = await phone_holder(tt)
    made_up = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    check(
        await secure_scan(tt, key, employee["nfc_uid"], made_up, sign(private, made_up)),
        403,
        "invalid_challenge",
    )
    nonce = await challenge(tt, key)
    with time_machine.travel(now() + dt.timedelta(seconds=31), tick=True):
        late = await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce))
    check(late, 403, "invalid_challenge")
    assert await tt.events(employee["id"]) == []


async def test_bad_signature_is_refused(tt: TT) -> None:
    employee, key, private = await phone_holder(tt)
    nonce = await challenge(tt, key)
    forged = sign(phone(2), nonce)  # signed by another phone's key
    check(await secure_scan(tt, key, employee["nfc_uid"], nonce, forged), 403, "bad_signature")
    other_bytes = base64.urlsafe_b64encode(os.urandom(32)).decode()
    nonce = await challenge(tt, key)
    check(
        await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, other_bytes)),
        403,
        "bad_signature",
    )
    assert await tt.events(employee["id"]) == []


async def test_url_safe_unpadded_signature_is_accepted(tt: TT) -> None:
    employee, key, private = await phone_holder(tt)
    nonce = await challenge(tt, key)
    body = check(
        await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce, urlsafe=True)), 200
    )
    assert body["status"] == "accepted"


async def test_revoked_key_is_not_active(tt: TT) -> None:
    employee, key, private = await phone_holder(tt)
    check(await tt.client.post(f"/api/employees/{employee['id']}/key/revoke", headers=tt.admin), 200)
    assert await key_status(tt, employee) == "revoked"
    nonce = await challenge(tt, key)
    check(await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce)), 403, "key_not_active")
    assert await tt.events(employee["id"]) == []


async def test_require_signature_terminal_refuses_plain_scans_of_keyed_employees(tt: TT) -> None:
    keyed, plain = await tt.employee(), await tt.employee()
    terminal_id, key = await tt.terminal()
    private = phone(1)
    await enroll(tt, key, keyed, private)
    await approve(tt, keyed)
    check(
        await tt.client.patch(
            f"/api/terminals/{terminal_id}", json={"require_signature": True}, headers=tt.admin
        ),
        200,
    )
    check(await tt.scan(key, keyed["nfc_uid"]), 403, "signature_required")
    [item] = (
        await tt.client.post(
            "/api/terminal/scans", json={"scans": [{"uid": keyed["nfc_uid"]}]}, headers=term(key)
        )
    ).json()["results"]
    assert item["http_status"] == 403 and item["code"] == "signature_required"
    assert await tt.events(keyed["id"]) == []
    check(await tt.scan(key, plain["nfc_uid"]), 200)  # no active key: plain scans still work
    nonce = await challenge(tt, key)
    check(await secure_scan(tt, key, keyed["nfc_uid"], nonce, sign(private, nonce)), 200)
    assert len(await tt.events(keyed["id"])) == 1


def public_b64_urlsafe(key: rsa.RSAPrivateKey) -> str:
    return public_b64(key).replace("+", "-").replace("/", "_").rstrip("=")


async def test_a_pending_key_is_replaced_by_a_newer_one(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    old, new = phone(1), phone(2)
    await enroll(tt, key, employee, old)
    response = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64_urlsafe(new)},
        headers=term(key),
    )
    assert check(response, 202)["status"] == "pending"
    await approve(tt, employee)
    nonce = await challenge(tt, key)
    check(await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(old, nonce)), 403, "bad_signature")
    nonce = await challenge(tt, key)
    check(await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(new, nonce)), 200)


async def test_signed_scans_follow_the_scan_rules(tt: TT) -> None:
    employee, key, private = await phone_holder(tt)
    nonce = await challenge(tt, key)
    stale = await secure_scan(
        tt, key, employee["nfc_uid"], nonce, sign(private, nonce), ts=ms(now() - dt.timedelta(days=8))
    )
    check(stale, 422, "clock_skew")
    t0 = ms(now() - dt.timedelta(minutes=1))
    nonce = await challenge(tt, key)
    first = check(await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce), ts=t0), 200)
    nonce = await challenge(tt, key)
    tap = check(
        await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce), ts=t0 + 1000), 200
    )
    assert tap["status"] == "duplicate" and tap["event_id"] == first["event_id"]
    other, _ = await tt.terminal()
    nonce = await challenge(tt, key)
    mismatch = await secure_scan(tt, key, employee["nfc_uid"], nonce, sign(private, nonce), terminal_id=other)
    check(mismatch, 403, "terminal_mismatch")
    assert len(await tt.events(employee["id"])) == 1
