"""Phone keys: first-scan enrollment (pending until an admin approves), challenge-response
scans (RSA PKCS#1 v1.5 SHA-256) and terminals that require a signature."""

from __future__ import annotations

import base64
import datetime as dt
from functools import lru_cache
from typing import Any

import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT, ms


@lru_cache(maxsize=4)
def phone_key(number: int = 0) -> rsa.RSAPrivateKey:
    del number  # one key per number, generated once per test run
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_b64(key: rsa.RSAPrivateKey, *, urlsafe: bool = False) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.urlsafe_b64encode(der).decode().rstrip("=") if urlsafe else base64.b64encode(der).decode()
    return text


def sign(key: rsa.RSAPrivateKey, challenge_b64: str) -> str:
    challenge = base64.urlsafe_b64decode(challenge_b64 + "=" * (-len(challenge_b64) % 4))
    return base64.b64encode(key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())).decode()


async def enroll(
    tt: TT, key: str, employee: dict[str, Any], phone: rsa.RSAPrivateKey, approve: bool = True
) -> None:
    response = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64(phone)},
        headers={"X-Terminal-Key": key},
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"ok": True, "status": "pending", "employee_id": employee["id"]}
    if approve:
        approved = await tt.client.post(f"/api/employees/{employee['id']}/key/approve", headers=tt.admin)
        assert approved.status_code == 200 and approved.json()["key_status"] == "active"


async def challenge(tt: TT, key: str) -> str:
    response = await tt.client.post("/api/terminal/challenge", json={}, headers={"X-Terminal-Key": key})
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 30
    return response.json()["challenge_b64"]


async def secure_scan(
    tt: TT, key: str, employee: dict[str, Any], challenge_b64: str, signature_b64: str, **extra: Any
) -> Any:
    body = {
        "employee_uid": employee["nfc_uid"],
        "challenge_b64": challenge_b64,
        "signature_b64": signature_b64,
        "ts": ms(utcnow()),
        **extra,
    }
    return await tt.client.post("/api/terminal/secure-scan", json=body, headers={"X-Terminal-Key": key})


async def test_signed_scan_is_accepted(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone = phone_key()
    await enroll(tt, key, employee, phone)
    nonce = await challenge(tt, key)
    response = await secure_scan(tt, key, employee, nonce, sign(phone, nonce), direction="IN")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted" and response.json()["direction"] == "IN"
    assert len(await tt.events(employee["id"])) == 1


async def test_challenge_is_single_use(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone = phone_key()
    await enroll(tt, key, employee, phone)
    nonce = await challenge(tt, key)
    signature = sign(phone, nonce)
    assert (await secure_scan(tt, key, employee, nonce, signature)).status_code == 200
    replay = await secure_scan(tt, key, employee, nonce, signature)
    assert replay.status_code == 403 and replay.json()["code"] == "invalid_challenge"
    assert len(await tt.events(employee["id"])) == 1


async def test_challenge_expires_after_30_seconds(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone = phone_key()
    await enroll(tt, key, employee, phone)
    nonce = await challenge(tt, key)
    with time_machine.travel(utcnow() + dt.timedelta(seconds=31), tick=True):
        late = await secure_scan(tt, key, employee, nonce, sign(phone, nonce))
    assert late.status_code == 403 and late.json()["code"] == "invalid_challenge"
    assert await tt.events(employee["id"]) == []


async def test_challenge_is_bound_to_its_terminal(tt: TT) -> None:
    employee = await tt.employee()
    _, door = await tt.terminal()
    _, thief = await tt.terminal()
    phone = phone_key()
    await enroll(tt, door, employee, phone)
    nonce = await challenge(tt, door)
    stolen = await secure_scan(tt, thief, employee, nonce, sign(phone, nonce))
    assert stolen.status_code == 403 and stolen.json()["code"] == "invalid_challenge"
    # The rightful terminal can still use it: another terminal's attempt did not burn it.
    assert (await secure_scan(tt, door, employee, nonce, sign(phone, nonce))).status_code == 200


async def test_unknown_and_made_up_challenges_are_refused(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone = phone_key()
    await enroll(tt, key, employee, phone)
    made_up = base64.urlsafe_b64encode(b"\x01" * 32).decode()
    for value in (made_up, "not base64 at all!", "AAAA"):
        response = await secure_scan(tt, key, employee, value, sign(phone, made_up))
        assert response.status_code == 403 and response.json()["code"] == "invalid_challenge", value


async def test_wrong_signature_is_refused_and_burns_the_challenge(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone, other = phone_key(0), phone_key(1)
    await enroll(tt, key, employee, phone)
    nonce = await challenge(tt, key)
    forged = await secure_scan(tt, key, employee, nonce, sign(other, nonce))
    assert forged.status_code == 403 and forged.json()["code"] == "bad_signature"
    assert (await secure_scan(tt, key, employee, nonce, sign(phone, nonce))).json()[
        "code"
    ] == "invalid_challenge"
    garbage = await secure_scan(tt, key, employee, await challenge(tt, key), "%%%")
    assert garbage.status_code == 403 and garbage.json()["code"] == "bad_signature"
    assert await tt.events(employee["id"]) == []


async def test_pending_or_revoked_key_cannot_sign(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone = phone_key()
    await enroll(tt, key, employee, phone, approve=False)
    nonce = await challenge(tt, key)
    pending = await secure_scan(tt, key, employee, nonce, sign(phone, nonce))
    assert pending.status_code == 403 and pending.json()["code"] == "key_not_active"
    await tt.client.post(f"/api/employees/{employee['id']}/key/approve", headers=tt.admin)
    revoked = await tt.client.post(f"/api/employees/{employee['id']}/key/revoke", headers=tt.admin)
    assert revoked.json()["key_status"] == "revoked"
    nonce = await challenge(tt, key)
    refused = await secure_scan(tt, key, employee, nonce, sign(phone, nonce))
    assert refused.status_code == 403 and refused.json()["code"] == "key_not_active"


async def test_enrollment_rules(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    headers = {"X-Terminal-Key": key}
    first, second = phone_key(0), phone_key(1)
    await enroll(tt, key, employee, first, approve=False)
    # A newer pending key replaces the older one (url-safe base64 without padding is fine).
    response = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64(second, urlsafe=True)},
        headers=headers,
    )
    assert response.status_code == 202
    shown = (await tt.client.get(f"/api/employees/{employee['id']}/key", headers=tt.admin)).json()
    assert shown["key_status"] == "pending" and shown["public_key_b64"] == public_b64(second)
    await tt.client.post(f"/api/employees/{employee['id']}/key/approve", headers=tt.admin)
    replaced = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64(first)},
        headers=headers,
    )
    assert replaced.status_code == 409 and replaced.json()["code"] == "key_already_active"
    listed = (await tt.client.get(f"/api/employees/{employee['id']}", headers=tt.admin)).json()
    assert listed["key_status"] == "active"
    unknown = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": "FFEE", "public_key_b64": public_b64(first)},
        headers=headers,
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_card"
    not_a_key = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": "AAAA"},
        headers=headers,
    )
    assert not_a_key.status_code == 422 and not_a_key.json()["code"] == "invalid_public_key"
    ec_der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    wrong_kind = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": base64.b64encode(ec_der).decode()},
        headers=headers,
    )
    assert wrong_kind.status_code == 422
    no_terminal = await tt.client.post(
        "/api/register/first-scan",
        json={"employee_uid": employee["nfc_uid"], "public_key_b64": public_b64(first)},
    )
    assert no_terminal.status_code == 401


async def test_key_changes_are_audited(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    await enroll(tt, key, employee, phone_key())
    audit = (
        await tt.client.get(
            "/api/audit", params={"entity": "employee", "entity_id": employee["id"]}, headers=tt.admin
        )
    ).json()["items"]
    actions = [entry["action"] for entry in audit]
    assert "key_submit" in actions and "key_approve" in actions
    approve = next(entry for entry in audit if entry["action"] == "key_approve")
    assert approve["before"]["key_status"] == "pending" and approve["after"]["key_status"] == "active"
    assert approve["actor"] is not None


async def test_approving_nothing_is_409_and_keys_are_admin_only(tt: TT) -> None:
    employee = await tt.employee()
    nothing = await tt.client.post(f"/api/employees/{employee['id']}/key/approve", headers=tt.admin)
    assert nothing.status_code == 409 and nothing.json()["code"] == "no_pending_key"
    operator = await tt.headers("operator")
    denied = await tt.client.post(f"/api/employees/{employee['id']}/key/revoke", headers=operator)
    assert denied.status_code == 403
    assert (await tt.client.get(f"/api/employees/{employee['id']}/key", headers=operator)).status_code == 403


async def test_require_signature_refuses_plain_scans_of_enrolled_employees(tt: TT) -> None:
    enrolled = await tt.employee()
    plain = await tt.employee()
    terminal_id, key = await tt.terminal(require_signature=True)
    phone = phone_key()
    await enroll(tt, key, enrolled, phone)
    refused = await tt.scan(key, enrolled["nfc_uid"])
    assert refused.status_code == 403 and refused.json()["code"] == "signature_required"
    assert (await tt.scan(key, plain["nfc_uid"])).status_code == 200
    nonce = await challenge(tt, key)
    assert (await secure_scan(tt, key, enrolled, nonce, sign(phone, nonce))).status_code == 200
    await tt.client.patch(
        f"/api/terminals/{terminal_id}", json={"require_signature": False}, headers=tt.admin
    )
    later = utcnow() + dt.timedelta(seconds=30)
    assert (await tt.scan(key, enrolled["nfc_uid"], later)).status_code == 200


async def test_signed_scan_follows_the_scan_rules(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    phone = phone_key()
    await enroll(tt, key, employee, phone)
    nonce = await challenge(tt, key)
    skewed = await secure_scan(
        tt, key, employee, nonce, sign(phone, nonce), ts=ms(utcnow() + dt.timedelta(hours=1))
    )
    assert skewed.status_code == 422 and skewed.json()["code"] == "clock_skew"
    await tt.scan(key, employee["nfc_uid"])
    nonce = await challenge(tt, key)
    duplicate = await secure_scan(tt, key, employee, nonce, sign(phone, nonce))
    assert duplicate.json()["status"] == "duplicate"
    assert len(await tt.events(employee["id"])) == 1
