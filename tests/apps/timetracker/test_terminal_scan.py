"""The terminal protocol: who the terminal is (R7), cooldown (R4), device clocks (R5),
idempotency (R6), heartbeats and limits."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from pydantic import ValidationError

from basis.apps.timetracker.settings import TimetrackerSettings
from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT, ms


async def test_first_scan_is_in_and_next_is_out(tt: TT) -> None:
    employee = await tt.employee(full_name="Anna Nowak", nfc_uid="04:a1:b2:c3")
    _, key = await tt.terminal()
    now = utcnow()
    first = await tt.scan(key, "04a1b2c3", now - dt.timedelta(hours=8))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["ok"] is True and body["status"] == "accepted"
    assert body["employee_id"] == employee["id"] and body["employee_name"] == "Anna Nowak"
    assert body["direction"] == "IN"
    assert body["ts"] == ms(now - dt.timedelta(hours=8))
    assert "replayed" not in body
    second = await tt.scan(key, "04-A1-B2-C3", now)
    assert second.json()["direction"] == "OUT"
    events = await tt.events(employee["id"])
    assert [(e["direction"], e["direction_source"]) for e in events] == [
        ("IN", "derived"),
        ("OUT", "derived"),
    ]
    assert all(e["received_at"] is not None for e in events)


async def test_scan_without_ts_gets_the_server_time(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    before = ms(utcnow())
    response = await tt.scan(key, employee["nfc_uid"])
    assert response.status_code == 200
    assert before <= response.json()["ts"] <= ms(utcnow())


async def test_device_direction_is_kept(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    now = utcnow()
    await tt.scan(key, employee["nfc_uid"], now - dt.timedelta(hours=2), direction="in")
    response = await tt.scan(key, employee["nfc_uid"], now - dt.timedelta(hours=1), direction="IN")
    assert response.json()["direction"] == "IN"
    events = await tt.events(employee["id"])
    assert [(e["direction"], e["direction_source"]) for e in events] == [("IN", "device"), ("IN", "device")]


# ---------------------------------------------------------------------------- R7 identity


async def test_missing_or_unknown_key_is_401_and_stores_nothing(tt: TT) -> None:
    employee = await tt.employee()
    missing = await tt.client.post("/api/terminal/scan", json={"uid": employee["nfc_uid"]})
    assert missing.status_code == 401
    assert missing.json() == {"ok": False, "code": "unknown_terminal", "detail": missing.json()["detail"]}
    wrong = await tt.scan("tk_not-a-key", employee["nfc_uid"])
    assert wrong.status_code == 401 and wrong.json()["code"] == "unknown_terminal"
    assert await tt.events(employee["id"]) == []


async def test_terminal_id_of_another_terminal_is_403(tt: TT) -> None:
    employee = await tt.employee()
    mine, key = await tt.terminal()
    other, _ = await tt.terminal()
    impersonating = await tt.scan(key, employee["nfc_uid"], terminal_id=other)
    assert impersonating.status_code == 403
    assert impersonating.json()["code"] == "terminal_mismatch" and impersonating.json()["ok"] is False
    assert await tt.events(employee["id"]) == []
    honest = await tt.scan(key, employee["nfc_uid"], terminal_id=mine)
    assert honest.status_code == 200
    assert (await tt.events(employee["id"]))[0]["terminal_id"] == mine


async def test_inactive_terminal_is_403_on_every_call(tt: TT) -> None:
    employee = await tt.employee()
    terminal_id, key = await tt.terminal()
    response = await tt.client.patch(
        f"/api/terminals/{terminal_id}", json={"is_active": False}, headers=tt.admin
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    headers = {"X-Terminal-Key": key}
    calls = [
        ("/api/terminal/scan", {"uid": employee["nfc_uid"]}),
        ("/api/terminal/scans", {"scans": [{"uid": employee["nfc_uid"]}]}),
        ("/api/terminal/challenge", {}),
        ("/api/terminal/heartbeat", {}),
        ("/api/register/first-scan", {"employee_uid": employee["nfc_uid"], "public_key_b64": "AAAA"}),
        (
            "/api/terminal/secure-scan",
            {"employee_uid": employee["nfc_uid"], "challenge_b64": "AA", "signature_b64": "AA"},
        ),
    ]
    for path, body in calls:
        answer = await tt.client.post(path, json=body, headers=headers)
        assert answer.status_code == 403, path
        assert answer.json()["code"] == "terminal_inactive", path
    assert await tt.events(employee["id"]) == []


async def test_unknown_card_and_inactive_employee_are_refused(tt: TT) -> None:
    _, key = await tt.terminal()
    unknown = await tt.scan(key, "DEADBEEF")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_card" and unknown.json()["ok"] is False
    employee = await tt.employee()
    await tt.client.patch(f"/api/employees/{employee['id']}", json={"is_active": False}, headers=tt.admin)
    inactive = await tt.scan(key, employee["nfc_uid"])
    assert inactive.status_code == 403 and inactive.json()["code"] == "employee_inactive"
    assert await tt.events(employee["id"]) == []
    garbage = await tt.scan(key, "not a card!")
    assert garbage.status_code == 422 and garbage.json()["code"] == "invalid_uid"


async def test_rotated_key_stops_at_once(tt: TT) -> None:
    employee = await tt.employee()
    terminal_id, old_key = await tt.terminal()
    assert (await tt.scan(old_key, employee["nfc_uid"])).status_code == 200
    rotated = await tt.client.post(f"/api/terminals/{terminal_id}/rotate-key", headers=tt.admin)
    assert rotated.status_code == 200
    new_key = rotated.json()["api_key"]
    assert new_key != old_key
    assert (await tt.scan(old_key, employee["nfc_uid"])).status_code == 401
    later = utcnow() + dt.timedelta(seconds=30)
    assert (await tt.scan(new_key, employee["nfc_uid"], later)).status_code == 200


async def test_terminals_cannot_create_employees(tt: TT) -> None:
    _, key = await tt.terminal()
    response = await tt.client.post(
        "/api/employees", json={"full_name": "Intruder", "nfc_uid": "AA"}, headers={"X-Terminal-Key": key}
    )
    assert response.status_code == 401
    assert (await tt.client.get("/api/employees", headers=tt.admin)).json()["total"] == 0


# ---------------------------------------------------------------------------- R4 cooldown


async def test_double_tap_is_a_duplicate_naming_the_accepted_event(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = utcnow() - dt.timedelta(minutes=10)
    accepted = (await tt.scan(key, employee["nfc_uid"], t0)).json()
    duplicate = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(milliseconds=4999))
    assert duplicate.status_code == 200
    body = duplicate.json()
    assert body["ok"] is True and body["status"] == "duplicate"
    assert body["event_id"] == accepted["event_id"] and body["direction"] == "IN"
    assert len(await tt.events(employee["id"])) == 1
    # Exactly the cooldown apart is a real scan.
    exact = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(seconds=5))
    assert exact.json()["status"] == "accepted" and exact.json()["direction"] == "OUT"


async def test_cooldown_applies_before_an_accepted_scan_too(tt: TT) -> None:
    """An offline terminal uploads a tap made 2 s before one already stored: a duplicate."""
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    t0 = utcnow() - dt.timedelta(hours=1)
    stored = (await tt.scan(online, employee["nfc_uid"], t0)).json()
    late = await tt.scan(offline, employee["nfc_uid"], t0 - dt.timedelta(seconds=2))
    assert late.json()["status"] == "duplicate" and late.json()["event_id"] == stored["event_id"]
    assert len(await tt.events(employee["id"])) == 1


async def test_cooldown_setting_is_read(tt: TT, make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(timetracker_terminal_scan_cooldown_seconds=60) as client:
        tt.client = client
        employee = await tt.employee()
        _, key = await tt.terminal()
        t0 = utcnow() - dt.timedelta(minutes=5)
        await tt.scan(key, employee["nfc_uid"], t0)
        assert (await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(seconds=30))).json()[
            "status"
        ] == "duplicate"
        beat = await client.post("/api/terminal/heartbeat", headers={"X-Terminal-Key": key})
        assert beat.json()["cooldown_seconds"] == 60


# ---------------------------------------------------------------------------- R5 clocks


async def test_device_clock_outside_the_window_is_clock_skew(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    now = utcnow()
    ahead = await tt.scan(key, employee["nfc_uid"], now + dt.timedelta(minutes=3))
    assert ahead.status_code == 422
    assert ahead.json()["code"] == "clock_skew" and ahead.json()["ok"] is False
    old = await tt.scan(key, employee["nfc_uid"], now - dt.timedelta(days=7, minutes=1))
    assert old.status_code == 422 and old.json()["code"] == "clock_skew"
    assert await tt.events(employee["id"]) == []
    slightly_ahead = await tt.scan(key, employee["nfc_uid"], now + dt.timedelta(seconds=100))
    assert slightly_ahead.status_code == 200
    six_days = await tt.scan(key, employee["nfc_uid"], now - dt.timedelta(days=6))
    assert six_days.status_code == 200


async def test_skew_is_judged_by_the_server_clock(tt: TT) -> None:
    """A terminal whose clock is right while the server moves on: the window follows the server."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    device_time = utcnow()
    with time_machine.travel(device_time + dt.timedelta(days=8), tick=True):
        stale = await tt.scan(key, employee["nfc_uid"], device_time)
    assert stale.status_code == 422 and stale.json()["code"] == "clock_skew"
    with time_machine.travel(device_time - dt.timedelta(minutes=10), tick=True):
        future = await tt.scan(key, employee["nfc_uid"], device_time)
    assert future.status_code == 422 and future.json()["code"] == "clock_skew"
    assert await tt.events(employee["id"]) == []


async def test_heartbeat_gives_server_time_and_throttles_last_seen(tt: TT) -> None:
    terminal_id, key = await tt.terminal()
    headers = {"X-Terminal-Key": key}
    t0 = utcnow()
    beat = await tt.client.post("/api/terminal/heartbeat", headers=headers)
    assert beat.status_code == 200
    body = beat.json()
    assert abs(body["server_time_ms"] - ms(t0)) < 5000
    assert dt.datetime.fromisoformat(body["server_time"].replace("Z", "+00:00")).tzinfo is not None
    assert body["cooldown_seconds"] == 5 and body["terminal_id"] == terminal_id

    async def last_seen() -> str | None:
        items = (await tt.client.get("/api/terminals", headers=tt.admin)).json()["items"]
        return next(t["last_seen_at"] for t in items if t["id"] == terminal_id)

    first_seen = await last_seen()
    assert first_seen is not None
    await tt.client.post("/api/terminal/heartbeat", headers=headers)
    assert await last_seen() == first_seen
    with time_machine.travel(t0 + dt.timedelta(minutes=2), tick=True):
        admin = await tt.headers("admin")
        await tt.client.post("/api/terminal/heartbeat", headers=headers)
        items = (await tt.client.get("/api/terminals", headers=admin)).json()["items"]
        assert next(t["last_seen_at"] for t in items if t["id"] == terminal_id) != first_seen


async def test_terminal_calls_are_rate_limited_per_terminal(tt: TT, make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(timetracker_terminal_rate_limit="3/minute") as client:
        tt.client = client
        _, busy = await tt.terminal()
        _, quiet = await tt.terminal()
        statuses = [
            (await client.post("/api/terminal/heartbeat", headers={"X-Terminal-Key": busy})).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await client.post("/api/terminal/heartbeat", headers={"X-Terminal-Key": busy})
        assert int(refused.headers["Retry-After"]) >= 1
        assert (
            await client.post("/api/terminal/heartbeat", headers={"X-Terminal-Key": quiet})
        ).status_code == 200


# --------------------------------------------------------------------------- R6 idempotency


async def test_replayed_client_event_id_returns_the_original_answer(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    ts = utcnow() - dt.timedelta(minutes=3)
    first = await tt.scan(key, employee["nfc_uid"], ts, client_event_id="buf-1")
    again = await tt.scan(key, employee["nfc_uid"], ts, client_event_id="buf-1")
    assert again.status_code == 200
    assert again.json() == {**first.json(), "replayed": True}
    assert len(await tt.events(employee["id"])) == 1
    conflict = await tt.scan(key, employee["nfc_uid"], ts + dt.timedelta(minutes=1), client_event_id="buf-1")
    assert conflict.status_code == 409 and conflict.json()["code"] == "idempotency_conflict"
    other_direction = await tt.scan(key, employee["nfc_uid"], ts, direction="OUT", client_event_id="buf-1")
    assert other_direction.status_code == 409
    someone_else = await tt.employee()
    other_card = await tt.scan(key, someone_else["nfc_uid"], ts, client_event_id="buf-1")
    assert other_card.status_code == 409 and other_card.json()["code"] == "idempotency_conflict"
    assert await tt.events(someone_else["id"]) == []
    assert len(await tt.events(employee["id"])) == 1


async def test_replay_of_a_duplicate_is_the_duplicate_answer(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    ts = utcnow() - dt.timedelta(minutes=3)
    await tt.scan(key, employee["nfc_uid"], ts, client_event_id="a")
    duplicate = await tt.scan(key, employee["nfc_uid"], ts + dt.timedelta(seconds=1), client_event_id="b")
    assert duplicate.json()["status"] == "duplicate"
    replay = await tt.scan(key, employee["nfc_uid"], ts + dt.timedelta(seconds=1), client_event_id="b")
    assert replay.json() == {**duplicate.json(), "replayed": True}
    conflict = await tt.scan(key, employee["nfc_uid"], ts + dt.timedelta(seconds=2), client_event_id="b")
    assert conflict.status_code == 409


async def test_client_event_ids_are_per_terminal(tt: TT) -> None:
    employee = await tt.employee()
    _, door = await tt.terminal()
    _, gate = await tt.terminal()
    ts = utcnow() - dt.timedelta(hours=2)
    await tt.scan(door, employee["nfc_uid"], ts, client_event_id="1")
    other = await tt.scan(gate, employee["nfc_uid"], ts + dt.timedelta(hours=1), client_event_id="1")
    assert other.json()["status"] == "accepted" and "replayed" not in other.json()
    assert len(await tt.events(employee["id"])) == 2


async def test_replay_answers_even_after_the_employee_left(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    ts = utcnow() - dt.timedelta(minutes=1)
    first = await tt.scan(key, employee["nfc_uid"], ts, client_event_id="x")
    await tt.client.patch(f"/api/employees/{employee['id']}", json={"is_active": False}, headers=tt.admin)
    again = await tt.scan(key, employee["nfc_uid"], ts, client_event_id="x")
    assert again.status_code == 200 and again.json()["event_id"] == first.json()["event_id"]


async def test_batch_items_are_limited_per_terminal_too(tt: TT, make_client) -> None:  # type: ignore[no-untyped-def]
    async with make_client(timetracker_terminal_item_limit="2000/minute") as client:
        tt.client = client
        employee = await tt.employee()
        _, busy = await tt.terminal()
        _, quiet = await tt.terminal()
        # Within the request limit (600/minute) but 1,000 items each: the third is over the budget.
        full = {"scans": [{"uid": "04A0", "direction": "up"}] * 1000}
        sent = [
            await client.post("/api/terminal/scans", json=full, headers={"X-Terminal-Key": busy})
            for _ in range(3)
        ]
        assert [r.status_code for r in sent] == [200, 200, 429]
        refused = sent[2].json()
        assert refused["ok"] is False and refused["code"] == "rate_limited"
        assert "items" in refused["detail"]
        assert 1 <= int(sent[2].headers["Retry-After"]) <= 60
        # Another terminal has its own budget; single scans count against the request limit only.
        assert (
            await client.post("/api/terminal/scans", json=full, headers={"X-Terminal-Key": quiet})
        ).status_code == 200
        assert (await tt.scan(busy, employee["nfc_uid"])).status_code == 200


async def test_an_item_budget_smaller_than_a_full_batch_is_refused_at_start(make_settings) -> None:  # type: ignore[no-untyped-def]
    for bad in ("999/minute", "lots"):
        with pytest.raises(ValidationError, match=r"BASIS_TIMETRACKER_TERMINAL_ITEM_LIMIT"):
            make_settings(timetracker_terminal_item_limit=bad).app(TimetrackerSettings)
