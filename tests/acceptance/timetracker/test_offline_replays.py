"""Area 3: offline buffers uploaded late and out of order; idempotent replays (R2, R6)."""

from __future__ import annotations

import datetime as dt

import time_machine

from tests.apps.timetracker.conftest import TT

from .helpers import batch, check, instant, manual_ok, ms, now, term, today_local, wall


def _day() -> dt.date:
    return today_local() - dt.timedelta(days=3)


async def test_batch_answers_in_request_order_and_applies_in_ts_order(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    scans = [
        {"uid": uid, "ts": ms(wall(day, 12)), "client_event_id": "buf-12"},
        {"uid": uid, "ts": ms(wall(day, 8)), "client_event_id": "buf-08"},
        {"uid": uid, "ts": ms(wall(day, 16)), "client_event_id": "buf-16"},
        {"uid": uid, "ts": ms(wall(day, 17)), "client_event_id": "buf-17"},
    ]
    results = await batch(tt, key, scans)
    assert [r["http_status"] for r in results] == [200, 200, 200, 200]
    assert all(r["ok"] is True and r["status"] == "accepted" for r in results)
    # Applied in ts order: 08 IN, 12 OUT, 16 IN, 17 OUT, whatever the upload order.
    assert [r["direction"] for r in results] == ["OUT", "IN", "IN", "OUT"]
    assert all(r["employee_id"] == employee["id"] for r in results)
    events = await tt.events(employee["id"])
    assert [e["direction"] for e in events] == ["IN", "OUT", "IN", "OUT"]
    assert [e["id"] for e in events] == [results[i]["event_id"] for i in (1, 0, 2, 3)]
    assert [e["client_event_id"] for e in events] == ["buf-08", "buf-12", "buf-16", "buf-17"]
    report = await tt.daily(employee["id"], day.isoformat(), day.isoformat())
    assert report["total_seconds"] == 5 * 3600


async def test_one_bad_item_never_fails_the_others(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    scans = [
        {"uid": uid, "ts": ms(wall(day, 8))},
        {"uid": "DEADBEEF99", "ts": ms(wall(day, 9))},
        {"ts": ms(wall(day, 10))},
        {"uid": uid, "ts": ms(wall(day, 11)) + 10 * 24 * 3600 * 1000},
        {"uid": uid, "ts": ms(wall(day, 16))},
    ]
    results = await batch(tt, key, scans)
    assert [r["http_status"] for r in results] == [200, 404, 422, 422, 200]
    assert results[1]["ok"] is False and results[1]["code"] == "unknown_card"
    assert results[2]["ok"] is False
    assert results[3]["code"] == "clock_skew"
    assert [results[0]["direction"], results[4]["direction"]] == ["IN", "OUT"]
    assert len(await tt.events(employee["id"])) == 2


async def test_late_upload_re_derives_later_derived_directions(tt: TT) -> None:
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    assert (await tt.scan(online, uid, ms(wall(day, 12)))).json()["direction"] == "IN"
    assert (await tt.scan(online, uid, ms(wall(day, 16)))).json()["direction"] == "OUT"
    [late] = await batch(tt, offline, [{"uid": uid, "ts": ms(wall(day, 8)), "client_event_id": "x1"}])
    assert late["http_status"] == 200 and late["direction"] == "IN"
    events = await tt.events(employee["id"])
    assert [(e["direction"], e["direction_source"]) for e in events] == [
        ("IN", "derived"),
        ("OUT", "derived"),
        ("IN", "derived"),
    ]
    # The totals follow the re-derived pairs: 08-12 closed, 16:00 an IN.
    report = await tt.daily(employee["id"], day.isoformat(), day.isoformat())
    assert report["items"][0]["worked_seconds"] == 4 * 3600
    assert report["items"][0]["first_in_local"] == "08:00:00"


async def test_late_upload_keeps_device_and_manual_directions(tt: TT) -> None:
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    await tt.scan(online, uid, ms(wall(day, 10)), direction="IN")
    await tt.scan(online, uid, ms(wall(day, 12)))  # derived OUT
    await tt.scan(online, uid, ms(wall(day, 13)))  # derived IN
    await manual_ok(tt, employee["id"], wall(day, 17).isoformat(), "OUT", comment="left at five")
    [late] = await batch(tt, offline, [{"uid": uid, "ts": ms(wall(day, 8))}])
    assert late["http_status"] == 200 and late["direction"] == "IN"
    events = await tt.events(employee["id"])
    assert [(e["direction"], e["direction_source"]) for e in events] == [
        ("IN", "derived"),  # 08:00, the late one
        ("IN", "device"),  # 10:00 stays IN
        ("OUT", "derived"),  # 12:00
        ("IN", "derived"),  # 13:00
        ("OUT", "manual"),  # 17:00 stays OUT
    ]
    assert events[-1]["is_manual"] is True and events[-1]["terminal_id"] is None


async def test_replaying_the_same_buffer_stores_nothing_new(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    scans = [
        {"uid": uid, "ts": ms(wall(day, 16)), "client_event_id": "r-3"},
        {"uid": uid, "ts": ms(wall(day, 8)), "client_event_id": "r-1"},
        {"uid": uid, "ts": ms(wall(day, 8, 0, 2)), "client_event_id": "r-2"},  # a double tap
    ]
    first = await batch(tt, key, scans)
    assert [r["status"] for r in first] == ["accepted", "accepted", "duplicate"]
    assert first[2]["event_id"] == first[1]["event_id"]
    stored = await tt.events(employee["id"])
    assert len(stored) == 2

    again = await batch(tt, key, scans)
    assert all(r.get("replayed") is True for r in again), again
    for original, replay in zip(first, again, strict=True):
        # The original answer again, plus replayed: true.
        assert {k: v for k, v in replay.items() if k != "replayed"} == {
            k: v for k, v in original.items() if k != "replayed"
        }
    # Replayed again in another order, and one item alone through the single-scan call.
    shuffled = await batch(tt, key, [scans[1], scans[2], scans[0]])
    assert [r["event_id"] for r in shuffled] == [
        first[1]["event_id"],
        first[2]["event_id"],
        first[0]["event_id"],
    ]
    single = check(await tt.scan(key, uid, scans[0]["ts"], client_event_id="r-3"), 200)
    assert single["replayed"] is True and single["event_id"] == first[0]["event_id"]
    assert await tt.events(employee["id"]) == stored


async def test_same_client_event_id_with_another_payload_is_409(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    original = check(await tt.scan(key, uid, ms(wall(day, 8)), client_event_id="evt-1"), 200)
    other_ts = await tt.scan(key, uid, ms(wall(day, 9)), client_event_id="evt-1")
    check(other_ts, 409, "idempotency_conflict")
    other_direction = await tt.scan(key, uid, ms(wall(day, 8)), direction="OUT", client_event_id="evt-1")
    check(other_direction, 409, "idempotency_conflict")
    [in_batch] = await batch(tt, key, [{"uid": uid, "ts": ms(wall(day, 10)), "client_event_id": "evt-1"}])
    assert in_batch["http_status"] == 409 and in_batch["code"] == "idempotency_conflict"
    events = await tt.events(employee["id"])
    assert [e["id"] for e in events] == [original["event_id"]]


async def test_client_event_ids_are_per_terminal(tt: TT) -> None:
    employee = await tt.employee()
    _, door = await tt.terminal()
    _, gate = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    first = check(await tt.scan(door, uid, ms(wall(day, 8)), client_event_id="1"), 200)
    second = check(await tt.scan(gate, uid, ms(wall(day, 16)), client_event_id="1"), 200)
    assert second["status"] == "accepted" and not second.get("replayed")
    assert second["event_id"] != first["event_id"] and second["direction"] == "OUT"
    assert len(await tt.events(employee["id"])) == 2


async def test_batch_upload_counts_as_the_authenticated_terminal(tt: TT) -> None:
    employee = await tt.employee()
    door, key = await tt.terminal()
    day = _day()
    await batch(tt, key, [{"uid": employee["nfc_uid"], "ts": ms(wall(day, 8))}])
    [event] = await tt.events(employee["id"])
    assert event["terminal_id"] == door and event["is_manual"] is False
    assert event["received_at"] is not None
    response = await tt.client.post("/api/terminal/scans", json={"scans": []}, headers=term(key))
    assert response.status_code == 200 and response.json()["results"] == []


async def test_a_replay_after_the_scan_window_still_gets_the_original_answer(tt: TT) -> None:
    """Keys are kept 30 days: a terminal re-sending its buffer 10 days later is answered, not refused."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    scan = {"uid": employee["nfc_uid"], "ts": ms(now() - dt.timedelta(hours=1)), "client_event_id": "old-1"}
    [original] = await batch(tt, key, [scan])
    assert original["status"] == "accepted"
    with time_machine.travel(now() + dt.timedelta(days=10), tick=True):
        [replay] = await batch(tt, key, [scan])
        single = await tt.scan(key, scan["uid"], scan["ts"], client_event_id="old-1")
    assert replay["http_status"] == 200 and replay.get("replayed") is True, replay
    assert replay["event_id"] == original["event_id"]
    assert check(single, 200)["event_id"] == original["event_id"]
    assert len(await tt.events(employee["id"])) == 1


async def test_late_check_out_upload_resolves_a_missing_out(tt: TT) -> None:
    """The evening check-out was in an offline terminal's buffer: uploading it closes the shift."""
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    day, uid = _day(), employee["nfc_uid"]
    next_day = day + dt.timedelta(days=1)
    await tt.scan(online, uid, ms(wall(day, 8)))
    assert (await tt.scan(online, uid, ms(wall(next_day, 8)))).json()["direction"] == "IN"
    assert (await tt.scan(online, uid, ms(wall(next_day, 16)))).json()["direction"] == "OUT"
    first, last = day.isoformat(), next_day.isoformat()
    before = await tt.daily(employee["id"], first, last)
    assert [a["code"] for d in before["items"] for a in d["anomalies"]] == ["MISSING_OUT"]
    [late] = await batch(tt, offline, [{"uid": uid, "ts": ms(wall(day, 16))}])
    assert late["direction"] == "OUT"
    after = await tt.daily(employee["id"], first, last)
    assert [a["code"] for d in after["items"] for a in d["anomalies"] if a["code"] == "MISSING_OUT"] == []
    assert after["items"][0]["worked_seconds"] == 8 * 3600
    events = await tt.events(employee["id"])
    assert [e["direction"] for e in events] == ["IN", "OUT", "IN", "OUT"]
    assert instant(events[2]["ts"]) == wall(next_day, 8)
    assert after["total_seconds"] == 16 * 3600
