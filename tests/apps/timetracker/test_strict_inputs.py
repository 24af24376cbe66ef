"""What the OpenAPI document says of TimeTracker's inputs is what the server does (issue 12,
point 10): yes/no fields take only true or false, fields that are optional but never null
refuse null with a 422, and the declared patterns are the ones the protocol reads."""

from __future__ import annotations

import re

from tests.apps.timetracker.conftest import TT


async def test_yes_no_fields_refuse_numbers_and_words(tt: TT) -> None:
    for body in (
        {"name": "Door zero", "require_signature": 0},
        {"name": "Door yes", "require_signature": "yes"},
    ):
        refused = await tt.client.post("/api/terminals", json=body, headers=tt.admin)
        assert refused.status_code == 422, refused.text
    terminal_id, _ = await tt.terminal()
    patched = await tt.client.patch(f"/api/terminals/{terminal_id}", json={"is_active": 1}, headers=tt.admin)
    assert patched.status_code == 422
    employee = await tt.employee()
    patched = await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"is_active": "false"}, headers=tt.admin
    )
    assert patched.status_code == 422
    listed = (await tt.client.get(f"/api/terminals/{terminal_id}", headers=tt.admin)).json()
    assert listed["is_active"] is True and listed["require_signature"] is False


async def test_null_for_a_never_null_field_is_a_422_not_a_500(tt: TT) -> None:
    terminal_id, _ = await tt.terminal()
    renamed = await tt.client.patch(f"/api/terminals/{terminal_id}", json={"name": None}, headers=tt.admin)
    assert renamed.status_code == 422 and renamed.json()["code"] == "invalid_value"
    employee = await tt.employee()
    for field in ("full_name", "nfc_uid", "is_active"):
        answer = await tt.client.patch(
            f"/api/employees/{employee['id']}", json={field: None}, headers=tt.admin
        )
        assert answer.status_code == 422, (field, answer.text)


async def test_the_declared_patterns_match_what_the_protocol_reads(tt: TT) -> None:
    spec = (await tt.client.get("/openapi.json")).json()
    body = spec["paths"]["/api/nfc"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    uid = re.compile(body["properties"]["nfc_uid"]["pattern"])
    direction = re.compile(body["properties"]["direction"]["pattern"])
    employee = await tt.employee(nfc_uid="04:A1-B2 C3")
    _, key = await tt.terminal()
    for raw in ("04:a1-b2 c3", " 04A1B2C3 "):
        assert uid.match(raw) and direction.match(" out ")
        answer = await tt.client.post(
            "/api/nfc", json={"nfc_uid": raw, "direction": " out "}, headers={"X-Terminal-Key": key}
        )
        assert answer.status_code == 200 and answer.json()["employee"]["id"] == employee["id"]
    for raw in ("04:G1", "::", "0" * 65):
        assert not uid.match(raw)
        refused = await tt.client.post(
            "/api/nfc", json={"nfc_uid": raw, "direction": "IN"}, headers={"X-Terminal-Key": key}
        )
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_uid"
    assert not direction.match("sideways") and not direction.match("")
