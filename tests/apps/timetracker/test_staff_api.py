"""Employees, schedules, terminals, events lists and the audit log as staff use them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT


async def test_employee_uid_is_normalised_and_unique(tt: TT) -> None:
    created = await tt.employee(
        full_name="Olena Kovalenko", nfc_uid=" 04:ab-cd ef ", position="Picker", department="Warehouse"
    )
    assert created["nfc_uid"] == "04ABCDEF"
    assert created["timezone"] == "Europe/Warsaw" and created["timezone_is_default"] is True
    assert created["key_status"] == "none" and created["is_active"] is True
    duplicate = await tt.client.post(
        "/api/employees", json={"full_name": "Other", "nfc_uid": "04ABCDEF"}, headers=tt.admin
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "duplicate_uid"
    other = await tt.employee(nfc_uid="0102")
    clash = await tt.client.patch(
        f"/api/employees/{other['id']}", json={"nfc_uid": "04-AB-CD-EF"}, headers=tt.admin
    )
    assert clash.status_code == 409
    not_hex = await tt.client.post(
        "/api/employees", json={"full_name": "X", "nfc_uid": "zz-top"}, headers=tt.admin
    )
    assert not_hex.status_code == 422


async def test_employee_timezone_must_be_iana(tt: TT) -> None:
    bad = await tt.client.post(
        "/api/employees", json={"full_name": "X", "nfc_uid": "AB", "timezone": "Mars/Base"}, headers=tt.admin
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_timezone"
    employee = await tt.employee(timezone="America/New_York")
    assert employee["timezone"] == "America/New_York" and employee["timezone_is_default"] is False
    worse = await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"timezone": "localtime"}, headers=tt.admin
    )
    assert worse.status_code == 422
    reset = await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"timezone": None}, headers=tt.admin
    )
    assert reset.json()["timezone"] == "Europe/Warsaw"


async def test_employee_list_search_pagination_and_trailing_slash(tt: TT) -> None:
    await tt.employee(full_name="Anna Nowak", nfc_uid="AA01", position="Picker")
    await tt.employee(full_name="Piotr Mazur", nfc_uid="BB02", position="Driver", department="Logistics")
    await tt.employee(full_name="Zofia Anna Kwiatkowska", nfc_uid="CC03", position="Accountant")
    found = (await tt.client.get("/api/employees", params={"q": "anna"}, headers=tt.admin)).json()
    assert sorted(e["full_name"] for e in found["items"]) == ["Anna Nowak", "Zofia Anna Kwiatkowska"]
    by_uid = (await tt.client.get("/api/employees/", params={"q": "bb:02"}, headers=tt.admin)).json()
    assert [e["full_name"] for e in by_uid["items"]] == ["Piotr Mazur"]
    by_position = (await tt.client.get("/api/employees", params={"q": "ACCOUNT"}, headers=tt.admin)).json()
    assert by_position["total"] == 1
    tricky = (await tt.client.get("/api/employees", params={"q": "100%_"}, headers=tt.admin)).json()
    assert tricky["total"] == 0
    page = (await tt.client.get("/api/employees", params={"limit": 2, "offset": 2}, headers=tt.admin)).json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 2 and len(page["items"]) == 1
    department = (
        await tt.client.get("/api/employees", params={"department": "Logistics"}, headers=tt.admin)
    ).json()
    assert department["total"] == 1
    one = found["items"][0]["id"]
    assert (await tt.client.get(f"/api/employees/{one}/", headers=tt.admin)).status_code == 200
    slash = await tt.client.post(
        "/api/employees/", json={"full_name": "Slash", "nfc_uid": "DD04"}, headers=tt.admin
    )
    assert slash.status_code == 201
    assert (await tt.client.get("/api/employees/999999", headers=tt.admin)).status_code == 404
    assert (await tt.client.get("/api/employees", params={"limit": 501}, headers=tt.admin)).status_code == 422


async def test_employee_roles(tt: TT) -> None:
    employee = await tt.employee()
    operator = await tt.headers("operator")
    assert (await tt.client.get("/api/employees", headers=operator)).status_code == 200
    assert (await tt.client.get(f"/api/employees/{employee['id']}", headers=operator)).status_code == 200
    create = await tt.client.post(
        "/api/employees", json={"full_name": "X", "nfc_uid": "EE"}, headers=operator
    )
    assert create.status_code == 403
    edit = await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"is_active": False}, headers=operator
    )
    assert edit.status_code == 403
    assert (await tt.client.get("/api/employees")).status_code == 401


async def test_employee_changes_are_audited_with_before_and_after(tt: TT) -> None:
    employee = await tt.employee(full_name="Before Name")
    await tt.client.patch(
        f"/api/employees/{employee['id']}",
        json={"full_name": "After Name", "is_active": False},
        headers=tt.admin,
    )
    items = (
        await tt.client.get(
            "/api/audit", params={"entity": "employee", "entity_id": employee["id"]}, headers=tt.admin
        )
    ).json()["items"]
    assert [i["action"] for i in items] == ["deactivate", "create"]
    change = items[0]
    assert change["before"]["full_name"] == "Before Name" and change["after"]["full_name"] == "After Name"
    assert change["before"]["is_active"] is True and change["after"]["is_active"] is False
    assert change["actor"].endswith("@example.com") and change["created_at"]
    operator = await tt.headers("operator")
    assert (await tt.client.get("/api/audit", headers=operator)).status_code == 403


async def test_schedule_cells_bulk_upsert_list_and_delete(tt: TT) -> None:
    a = await tt.employee()
    b = await tt.employee()
    cells = [
        {"employee_id": a["id"], "day": "2026-03-02", "start": "08:00", "end": "16:00", "code": "work"},
        {"employee_id": a["id"], "day": "2026-03-03", "start_hhmm": "22:00", "end_hhmm": "06:00"},
        {"employee_id": a["id"], "day": "2026-03-04", "code": "SICK"},
        {"employee_id": b["id"], "day": "2026-03-02", "code": "7-15"},
        {"employee_id": b["id"], "day": "2026-03-03", "code": "dancing"},
        {"employee_id": 999999, "day": "2026-03-02", "code": "off"},
        {"employee_id": b["id"], "day": "not-a-day", "code": "off"},
        {"employee_id": b["id"], "day": "2026-03-04", "start": "25:00", "end": "08:00"},
        {"employee_id": b["id"], "day": "2026-03-05", "start": "08:00"},
    ]
    refused = await tt.client.post("/api/schedules", json={"cells": cells}, headers=tt.admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_schedule"
    assert [(e["index"], e["code"]) for e in refused.json()["errors"]] == [
        (4, "invalid_code"),
        (5, "employee_not_found"),
        (6, "validation_error"),
        (7, "invalid_time"),
        (8, "invalid_cell"),
    ]
    # One bad cell and nothing of the batch is stored.
    nothing = await tt.client.get(
        "/api/schedules", params={"from_date": "2026-03-01", "to_date": "2026-03-31"}, headers=tt.admin
    )
    assert nothing.json()["items"] == []
    saved = await tt.client.post("/api/schedules", json={"cells": cells[:4]}, headers=tt.admin)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"saved": 4, "deleted": 0, "errors": [], "success": 4, "failed": 0}
    listed = (
        await tt.client.get(
            "/api/schedules", params={"from_date": "2026-03-01", "to_date": "2026-03-31"}, headers=tt.admin
        )
    ).json()["items"]
    assert [(i["employee_id"], i["day"], i["start_hhmm"], i["end_hhmm"], i["code"]) for i in listed] == [
        (a["id"], "2026-03-02", "08:00", "16:00", "work"),
        (a["id"], "2026-03-03", "22:00", "06:00", "work"),
        (a["id"], "2026-03-04", None, None, "sick"),
        (b["id"], "2026-03-02", "07:00", "15:00", "work"),
    ]
    assert listed[1]["overnight"] is True and listed[2]["label"] == "Sick leave"
    # The original's path and parameter names still answer.
    legacy = (
        await tt.client.get(
            "/api/schedule", params={"date_from": "2026-03-01", "date_to": "2026-03-31"}, headers=tt.admin
        )
    ).json()
    assert legacy["date_from"] == "2026-03-01" and len(legacy["items"]) == 4
    # Upsert: the same day again replaces; an empty code deletes the day.
    again = await tt.client.post(
        "/api/schedules",
        json={
            "cells": [
                {"employee_id": a["id"], "day": "2026-03-02", "start": "09:00", "end": "17:00"},
                {"employee_id": a["id"], "day": "2026-03-04", "code": ""},
            ]
        },
        headers=tt.admin,
    )
    assert again.json() == {"saved": 1, "deleted": 1, "errors": [], "success": 2, "failed": 0}
    only_a = (
        await tt.client.get(
            "/api/schedules",
            params={"from_date": "2026-03-01", "to_date": "2026-03-31", "employee_id": a["id"]},
            headers=tt.admin,
        )
    ).json()["items"]
    assert [(i["day"], i["start"]) for i in only_a] == [("2026-03-02", "09:00"), ("2026-03-03", "22:00")]
    operator = await tt.headers("operator")
    deleted = await tt.client.delete(f"/api/schedules/{only_a[1]['id']}", headers=operator)
    assert deleted.status_code == 204
    assert (await tt.client.delete(f"/api/schedules/{only_a[1]['id']}", headers=operator)).status_code == 404
    audit = (await tt.client.get("/api/audit", params={"entity": "schedule"}, headers=tt.admin)).json()[
        "items"
    ]
    assert {"create", "update", "delete"} <= {entry["action"] for entry in audit}
    user = await tt.headers("user")
    assert (await tt.client.post("/api/schedules", json={"cells": []}, headers=user)).status_code == 403


@pytest.mark.parametrize(
    ("cell", "code", "field"),
    [
        ({"code": "25-99"}, "invalid_time", "code"),  # once stored as a 01:00-03:00 work shift
        ({"code": "8-16:75"}, "invalid_time", "code"),
        ({"code": "24-8"}, "invalid_time", "code"),
        ({"code": "8-"}, "invalid_code", "code"),
        ({"code": "dancing"}, "invalid_code", "code"),
        ({"start": "25:00", "end": "08:00"}, "invalid_time", "start"),
        ({"start": "08:00", "end": "16:60"}, "invalid_time", "end"),
        ({"start": "8:00Z", "end": "16:00"}, "invalid_time", "start"),
        ({"start": "8", "end": "16"}, "invalid_time", "start"),
        ({"start_hhmm": "08:00", "end_hhmm": "16:00:30"}, "invalid_time", "end"),
        ({"start": "08:00", "code": "work"}, "invalid_cell", "end"),
        ({"code": 816}, "validation_error", "code"),
    ],
)
async def test_a_schedule_cell_that_is_not_a_time_range_or_code_is_refused_by_name(
    tt: TT, cell: dict[str, Any], code: str, field: str
) -> None:
    employee = await tt.employee()
    cells = [
        {"employee_id": employee["id"], "day": "2026-03-02", "code": "8-16"},
        {"employee_id": employee["id"], "day": "2026-03-03", **cell},
    ]
    response = await tt.client.post("/api/schedules", json={"cells": cells}, headers=tt.admin)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_schedule"
    assert "cell 1" in body["detail"] and f"employee {employee['id']}" in body["detail"]
    assert "2026-03-03" in body["detail"] and "nothing was saved" in body["detail"]
    [error] = body["errors"]
    assert (error["index"], error["employee_id"], error["day"], error["code"], error["field"]) == (
        1,
        employee["id"],
        "2026-03-03",
        code,
        field,
    )
    listed = await tt.client.get(
        "/api/schedules", params={"from_date": "2026-03-01", "to_date": "2026-03-31"}, headers=tt.admin
    )
    assert listed.json()["items"] == []


async def test_the_schedule_refusal_is_in_the_openapi_document(tt: TT) -> None:
    spec = (await tt.client.get("/openapi.json")).json()
    refused = spec["paths"]["/api/schedules"]["post"]["responses"]["422"]
    schema = refused["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ScheduleRefused"}
    fields = spec["components"]["schemas"]["ScheduleCellError"]["properties"]
    assert {"index", "employee_id", "day", "code", "field", "detail"} <= set(fields)


async def test_schedule_times_and_ranges_as_operators_type_them(tt: TT) -> None:
    employee = await tt.employee()
    typed = {
        "2026-03-02": {"code": "7-15"},
        "2026-03-03": {"code": "07:30 - 16:00"},
        "2026-03-04": {"code": "22-24"},
        "2026-03-05": {"code": "22:00-6:00"},
        "2026-03-06": {"start": "8:00", "end": "16:30"},
        "2026-03-07": {"start_hhmm": "09:00:00", "end_hhmm": "24:00"},
    }
    cells = [{"employee_id": employee["id"], "day": day, **cell} for day, cell in typed.items()]
    response = await tt.client.post("/api/schedules", json={"cells": cells}, headers=tt.admin)
    assert response.status_code == 200, response.text
    listed = (
        await tt.client.get(
            "/api/schedules", params={"from_date": "2026-03-01", "to_date": "2026-03-31"}, headers=tt.admin
        )
    ).json()["items"]
    assert [(i["day"], i["start"], i["end"], i["code"]) for i in listed] == [
        ("2026-03-02", "07:00", "15:00", "work"),
        ("2026-03-03", "07:30", "16:00", "work"),
        ("2026-03-04", "22:00", "00:00", "work"),
        ("2026-03-05", "22:00", "06:00", "work"),
        ("2026-03-06", "08:00", "16:30", "work"),
        ("2026-03-07", "09:00", "00:00", "work"),
    ]


async def test_terminal_admin(tt: TT) -> None:
    created = await tt.client.post(
        "/api/terminals", json={"name": "Gate 1", "location": "North"}, headers=tt.admin
    )
    assert created.status_code == 201
    body = created.json()
    assert body["api_key"] and body["require_signature"] is False and body["is_active"] is True
    listed = (await tt.client.get("/api/terminals", headers=tt.admin)).json()
    assert (
        listed["total"] == 1 and "api_key" not in listed["items"][0] and "key_hash" not in listed["items"][0]
    )
    assert body["api_key"] not in (await tt.client.get(f"/api/terminals/{body['id']}", headers=tt.admin)).text
    duplicate = await tt.client.post("/api/terminals", json={"name": "Gate 1"}, headers=tt.admin)
    assert duplicate.status_code == 409
    second = (await tt.client.post("/api/terminals", json={"name": "Gate 2"}, headers=tt.admin)).json()
    rename = await tt.client.patch(
        f"/api/terminals/{second['id']}", json={"name": "Gate 1"}, headers=tt.admin
    )
    assert rename.status_code == 409
    patched = await tt.client.patch(
        f"/api/terminals/{body['id']}",
        json={"location": "South", "require_signature": True},
        headers=tt.admin,
    )
    assert patched.json()["location"] == "South" and patched.json()["require_signature"] is True
    assert (await tt.client.post("/api/terminals/999999/rotate-key", headers=tt.admin)).status_code == 404
    operator = await tt.headers("operator")
    assert (await tt.client.get("/api/terminals", headers=operator)).status_code == 403
    assert (await tt.client.post("/api/terminals", json={"name": "X"}, headers=operator)).status_code == 403
    audit = (await tt.client.get("/api/audit", params={"entity": "terminal"}, headers=tt.admin)).json()[
        "items"
    ]
    assert all("key_hash" not in (entry["after"] or {}) for entry in audit)
    assert {"create", "update"} <= {e["action"] for e in audit}


async def test_events_list_filters(tt: TT) -> None:
    employee = await tt.employee()
    other = await tt.employee()
    door_id, door = await tt.terminal()
    _, gate = await tt.terminal()
    t0 = (utcnow() - dt.timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)
    await tt.scan(door, employee["nfc_uid"], t0)
    await tt.scan(gate, employee["nfc_uid"], t0 + dt.timedelta(hours=8))
    await tt.scan(door, other["nfc_uid"], t0 + dt.timedelta(hours=1))
    await tt.manual(employee["id"], (t0 + dt.timedelta(hours=9)).isoformat(), "IN")

    async def ids(**params: object) -> int:
        response = await tt.client.get("/api/events", params={"limit": 100, **params}, headers=tt.admin)
        assert response.status_code == 200, response.text
        return response.json()["total"]

    assert await ids() == 4
    assert await ids(employee_id=employee["id"]) == 3
    assert await ids(terminal_id=door_id) == 2
    assert await ids(direction="out") == 1
    assert await ids(is_manual="true") == 1
    assert await ids(**{"from": (t0 + dt.timedelta(minutes=30)).isoformat()}) == 3
    assert (
        await ids(
            **{"from": t0.isoformat().replace("+00:00", "Z"), "to": (t0 + dt.timedelta(hours=1)).isoformat()}
        )
        == 2
    )
    local_day = t0.astimezone(ZoneInfo("Europe/Warsaw")).date()
    assert await ids(**{"from": local_day.isoformat(), "to": local_day.isoformat()}) == 4
    day_before = (local_day - dt.timedelta(days=1)).isoformat()
    assert await ids(**{"from": day_before, "to": day_before}) == 0
    bad = await tt.client.get("/api/events", params={"from": "soon"}, headers=tt.admin)
    assert bad.status_code == 422
    one = (await tt.client.get("/api/events", params={"limit": 1}, headers=tt.admin)).json()
    assert set(one["items"][0]) >= {
        "id",
        "employee_id",
        "terminal_id",
        "ts",
        "received_at",
        "direction",
        "direction_source",
        "is_manual",
        "comment",
        "created_by",
        "client_event_id",
        "deleted_at",
    }
    assert (await tt.client.get("/api/events/999999", headers=tt.admin)).status_code == 404


async def test_control_characters_are_422_not_a_database_error(tt: TT) -> None:
    bad_name = await tt.client.post(
        "/api/employees", json={"full_name": "A\x00B", "nfc_uid": "AB"}, headers=tt.admin
    )
    assert bad_name.status_code == 422
    assert (await tt.client.get("/api/employees", params={"q": "a\x00"}, headers=tt.admin)).status_code == 422
    employee = await tt.employee()
    _, key = await tt.terminal()
    scan = await tt.scan(key, employee["nfc_uid"], client_event_id="id\x00")
    assert scan.status_code == 422
    huge = await tt.client.get("/api/employees/99999999999999999999", headers=tt.admin)
    assert huge.status_code == 422
    huge_filter = await tt.client.get("/api/events", params={"employee_id": 2**63}, headers=tt.admin)
    assert huge_filter.status_code == 422
    old = await tt.manual(employee["id"], "0001-01-01T00:00:00", "IN")
    assert old.status_code == 422
    far = await tt.client.get(
        "/api/events", params={"from": "0001-01-01", "to": "9999-12-31"}, headers=tt.admin
    )
    assert far.status_code in (200, 422)
