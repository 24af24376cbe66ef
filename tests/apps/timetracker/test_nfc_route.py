"""The original's terminal routes: ``POST /api/nfc`` decided by the scan rules (R4-R7) and
answered in the original's shape, and ``GET /api/events/manual`` as a list."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT


async def nfc(tt: TT, key: str, body: dict[str, Any]) -> httpx.Response:
    return await tt.client.post("/api/nfc", json=body, headers={"X-Terminal-Key": key})


def iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="milliseconds")


async def test_a_tap_answers_the_originals_shape_and_is_stored_as_a_scan(tt: TT) -> None:
    employee = await tt.employee(full_name="Олена Коваль", nfc_uid="04:B1:C2:D3")
    terminal_id, key = await tt.terminal(name="Вхід")
    ts = utcnow().replace(microsecond=0) - dt.timedelta(hours=1)
    response = await nfc(
        tt, key, {"nfc_uid": "04b1c2d3", "direction": "in", "ts": iso(ts), "terminal_name": "ignored"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["status"] == "accepted"
    assert body["employee"] == {"id": employee["id"], "full_name": "Олена Коваль"}
    assert body["terminal"] == {"id": terminal_id, "name": "Вхід"}
    event = body["event"]
    assert event["employee_id"] == employee["id"] and event["terminal_id"] == terminal_id
    assert event["direction"] == "IN"
    assert dt.datetime.fromisoformat(event["ts"]) == ts
    [stored] = await tt.events(employee["id"])
    assert stored["id"] == event["id"] and stored["direction_source"] == "device"
    assert stored["is_manual"] is False


async def test_naive_ts_is_the_sites_wall_clock_and_absent_ts_is_now(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    two_hours_ago = utcnow().replace(microsecond=0) - dt.timedelta(hours=2)
    wall_clock = two_hours_ago.astimezone(ZoneInfo(tt.settings.timezone)).replace(tzinfo=None)
    response = await nfc(
        tt, key, {"nfc_uid": employee["nfc_uid"], "direction": "IN", "ts": wall_clock.isoformat()}
    )
    assert response.status_code == 200, response.text
    assert dt.datetime.fromisoformat(response.json()["event"]["ts"]) == two_hours_ago
    before = utcnow() - dt.timedelta(seconds=1)
    now = await nfc(tt, key, {"nfc_uid": employee["nfc_uid"], "direction": "OUT"})
    assert now.status_code == 200, now.text
    assert dt.datetime.fromisoformat(now.json()["event"]["ts"]) >= before


async def test_cooldown_makes_a_second_tap_a_duplicate_of_the_first(tt: TT) -> None:
    employee = await tt.employee()
    door, door_key = await tt.terminal()
    _, gate_key = await tt.terminal()
    ts = utcnow() - dt.timedelta(minutes=10)
    first = await nfc(tt, door_key, {"nfc_uid": employee["nfc_uid"], "direction": "IN", "ts": iso(ts)})
    # The same card at another door 2 s later: the scan route's cooldown (R4) decides.
    second = await nfc(
        tt,
        gate_key,
        {"nfc_uid": employee["nfc_uid"], "direction": "OUT", "ts": iso(ts + dt.timedelta(seconds=2))},
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["status"] == "duplicate"
    assert body["event"]["id"] == first.json()["event"]["id"]
    assert body["event"]["terminal_id"] == door and body["event"]["direction"] == "IN"
    assert len(await tt.events(employee["id"])) == 1
    # A plain scan within the cooldown of the tap is a duplicate too: one set of rules.
    plain = await tt.scan(door_key, employee["nfc_uid"], ts + dt.timedelta(seconds=3))
    assert plain.json()["status"] == "duplicate"


async def test_refusals_are_the_scan_routes_with_ok_false(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    unknown = await nfc(tt, key, {"nfc_uid": "DEADBEEF99", "direction": "IN"})
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_card" and unknown.json()["ok"] is False
    ahead = await nfc(
        tt,
        key,
        {"nfc_uid": employee["nfc_uid"], "direction": "IN", "ts": iso(utcnow() + dt.timedelta(hours=1))},
    )
    assert ahead.status_code == 422
    assert ahead.json()["code"] == "clock_skew" and ahead.json()["ok"] is False
    old = await nfc(
        tt,
        key,
        {"nfc_uid": employee["nfc_uid"], "direction": "IN", "ts": iso(utcnow() - dt.timedelta(days=8))},
    )
    assert old.status_code == 422 and old.json()["code"] == "clock_skew"
    sideways = await nfc(tt, key, {"nfc_uid": employee["nfc_uid"], "direction": "SIDEWAYS"})
    assert sideways.status_code == 422 and sideways.json()["code"] == "invalid_direction"
    missing = await nfc(tt, key, {"nfc_uid": employee["nfc_uid"]})
    assert missing.status_code == 422
    assert missing.json()["code"] == "validation_error" and missing.json()["ok"] is False
    no_key = await tt.client.post("/api/nfc", json={"nfc_uid": employee["nfc_uid"], "direction": "IN"})
    assert no_key.status_code == 401 and no_key.json()["ok"] is False
    assert await tt.events(employee["id"]) == []


async def test_a_resent_tap_is_answered_again_and_stored_once(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    ts = utcnow() - dt.timedelta(hours=3)
    tap = {"nfc_uid": employee["nfc_uid"], "direction": "IN", "ts": iso(ts), "client_event_id": "tap-1"}
    first = await nfc(tt, key, tap)
    again = await nfc(tt, key, tap)
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["event"] == first.json()["event"]
    changed = await nfc(tt, key, {**tap, "ts": iso(ts + dt.timedelta(minutes=1))})
    assert changed.status_code == 409
    assert changed.json()["code"] == "idempotency_conflict" and changed.json()["ok"] is False
    assert len(await tt.events(employee["id"])) == 1


async def test_manual_events_list_is_a_list_newest_first(tt: TT) -> None:
    employee = await tt.employee(full_name="Ірина Бондар")
    operator = await tt.headers("operator")
    day = (utcnow() - dt.timedelta(days=2)).date().isoformat()
    assert (
        await tt.manual(employee["id"], f"{day}T08:00:00", "IN", comment="забула картку")
    ).status_code == 201
    assert (await tt.manual(employee["id"], f"{day}T16:00:00", "OUT")).status_code == 201
    _, key = await tt.terminal()
    await tt.scan(key, employee["nfc_uid"])
    response = await tt.client.get("/api/events/manual", headers=operator)
    assert response.status_code == 200, response.text
    items = response.json()
    assert [(i["direction"], i["time"], i["date"]) for i in items] == [
        ("OUT", "16:00:00", day),
        ("IN", "08:00:00", day),
    ]
    assert items[1]["employee_full_name"] == "Ірина Бондар"
    assert items[1]["comment"] == "забула картку" and items[1]["created_by_username"] != "—"
    assert items[1]["ts_local"] == f"{day} 08:00:00"
    one = await tt.client.get("/api/events/manual", params={"limit": 1}, headers=operator)
    assert [i["direction"] for i in one.json()] == ["OUT"]
    too_many = await tt.client.get("/api/events/manual", params={"limit": 101}, headers=operator)
    assert too_many.status_code == 422
    worker = await tt.headers("user")
    assert (await tt.client.get("/api/events/manual", headers=worker)).status_code == 403
