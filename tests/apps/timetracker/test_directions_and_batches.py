"""Directions from ts order (R2), the maximum shift (R3) and the offline buffer upload."""

from __future__ import annotations

import datetime as dt

from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT, ms


def _day_start() -> dt.datetime:
    return (utcnow() - dt.timedelta(days=3)).replace(hour=6, minute=0, second=0, microsecond=0)


async def test_late_scan_re_derives_later_directions(tt: TT) -> None:
    """An offline terminal uploads the morning IN after the evening scans were stored."""
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    day = _day_start()
    # Stored first: 12:00 and 16:00 derived as IN, OUT.
    await tt.scan(online, employee["nfc_uid"], day + dt.timedelta(hours=6))
    await tt.scan(online, employee["nfc_uid"], day + dt.timedelta(hours=10))
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN", "OUT"]
    # 08:00 arrives late: it is the IN, so 12:00 becomes OUT and 16:00 IN.
    late = await tt.scan(offline, employee["nfc_uid"], day + dt.timedelta(hours=2))
    assert late.json()["direction"] == "IN"
    events = await tt.events(employee["id"])
    assert [e["direction"] for e in events] == ["IN", "OUT", "IN"]
    assert {e["direction_source"] for e in events} == {"derived"}


async def test_device_directions_survive_a_late_insert(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day = _day_start()
    await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(hours=6), direction="IN")
    await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(hours=10), direction="OUT")
    await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(hours=2))
    events = await tt.events(employee["id"])
    assert [(e["direction"], e["direction_source"]) for e in events] == [
        ("IN", "derived"),
        ("IN", "device"),
        ("OUT", "device"),
    ]


async def test_forgotten_check_out_does_not_flip_the_next_day(tt: TT) -> None:
    """R3: a scan more than 16 h after an open IN is an IN, so the next pair stays right."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    day = _day_start()
    await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(hours=2))  # 08:00, never checked out
    second = await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(days=1, hours=2))
    third = await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(days=1, hours=10))
    assert second.json()["direction"] == "IN" and third.json()["direction"] == "OUT"


async def test_exactly_the_maximum_shift_still_closes_the_in(tt: TT) -> None:
    """The boundary belongs to the shift: 16 h after the IN is its OUT, a millisecond more is not."""
    exact, late = await tt.employee(), await tt.employee()
    _, key = await tt.terminal()
    day = _day_start()
    for employee, extra in ((exact, dt.timedelta(0)), (late, dt.timedelta(milliseconds=1))):
        await tt.scan(key, employee["nfc_uid"], day)
        closing = await tt.scan(key, employee["nfc_uid"], day + dt.timedelta(hours=16) + extra)
        assert closing.json()["direction"] == ("OUT" if not extra else "IN")


async def test_batch_answers_in_request_order_and_applies_in_ts_order(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day = _day_start()
    scans = [
        {"uid": employee["nfc_uid"], "ts": ms(day + dt.timedelta(hours=10)), "client_event_id": "c"},
        {"uid": employee["nfc_uid"], "ts": ms(day + dt.timedelta(hours=2)), "client_event_id": "a"},
        {"uid": "FFFF0000", "ts": ms(day + dt.timedelta(hours=3))},
        {"uid": employee["nfc_uid"], "ts": ms(day + dt.timedelta(hours=2, seconds=2))},
        {"uid": employee["nfc_uid"], "ts": ms(utcnow() + dt.timedelta(hours=2))},
        {"ts": "not even a number"},
        {"uid": employee["nfc_uid"], "ts": ms(day + dt.timedelta(hours=6)), "client_event_id": "b"},
    ]
    response = await tt.client.post(
        "/api/terminal/scans", json={"scans": scans}, headers={"X-Terminal-Key": key}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(7))
    assert [r["http_status"] for r in results] == [200, 200, 404, 200, 422, 422, 200]
    assert results[0]["direction"] == "IN" and results[6]["direction"] == "OUT"
    assert results[1]["direction"] == "IN" and results[1]["status"] == "accepted"
    assert results[2]["code"] == "unknown_card" and results[2]["ok"] is False
    assert results[3]["status"] == "duplicate" and results[3]["event_id"] == results[1]["event_id"]
    assert results[4]["code"] == "clock_skew"
    assert results[5]["code"] == "validation_error"
    events = await tt.events(employee["id"])
    assert [e["direction"] for e in events] == ["IN", "OUT", "IN"]
    # Uploading the same buffer again (the answer was lost) stores nothing new.
    again = (
        await tt.client.post("/api/terminal/scans", json={"scans": scans}, headers={"X-Terminal-Key": key})
    ).json()["results"]
    assert again[0]["replayed"] is True and again[0]["event_id"] == results[0]["event_id"]
    assert len(await tt.events(employee["id"])) == 3


async def test_batch_item_naming_another_terminal_is_refused_alone(tt: TT) -> None:
    employee = await tt.employee()
    mine, key = await tt.terminal()
    other, _ = await tt.terminal()
    day = _day_start()
    scans = [
        {"uid": employee["nfc_uid"], "ts": ms(day), "terminal_id": other},
        {"uid": employee["nfc_uid"], "ts": ms(day + dt.timedelta(hours=1)), "terminal_id": mine},
    ]
    results = (
        await tt.client.post("/api/terminal/scans", json={"scans": scans}, headers={"X-Terminal-Key": key})
    ).json()["results"]
    assert results[0]["http_status"] == 403 and results[0]["code"] == "terminal_mismatch"
    assert results[1]["http_status"] == 200
    assert len(await tt.events(employee["id"])) == 1


async def test_batch_needs_a_list(tt: TT) -> None:
    _, key = await tt.terminal()
    headers = {"X-Terminal-Key": key}
    assert (
        await tt.client.post("/api/terminal/scans", json={"scans": "x"}, headers=headers)
    ).status_code == 422
    too_many = {"scans": [{"uid": "AA"}] * 1001}
    assert (await tt.client.post("/api/terminal/scans", json=too_many, headers=headers)).status_code == 422
    empty = await tt.client.post("/api/terminal/scans", json={"scans": []}, headers=headers)
    assert empty.status_code == 200 and empty.json() == {"results": []}
