"""Area 5: device clocks trusted within [now - 7 days, now + 2 min] (R5)."""

from __future__ import annotations

import datetime as dt

import time_machine

from tests.apps.timetracker.conftest import TT

from .helpers import batch, check, instant, manual_ok, ms, now

MINUTE = 60 * 1000
DAY = 24 * 60 * MINUTE


async def test_device_clock_too_far_ahead_is_clock_skew_and_stores_nothing(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    for ahead in (2 * MINUTE + 10_000, 5 * MINUTE, DAY):
        body = check(await tt.scan(key, employee["nfc_uid"], ms(now()) + ahead), 422, "clock_skew")
        assert body["ok"] is False
    assert await tt.events(employee["id"]) == []


async def test_device_clock_too_old_is_clock_skew_and_stores_nothing(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    for age in (7 * DAY + MINUTE, 30 * DAY, 365 * DAY):
        body = check(await tt.scan(key, employee["nfc_uid"], ms(now()) - age), 422, "clock_skew")
        assert body["ok"] is False
    assert await tt.events(employee["id"]) == []
    # Such an old time can still be entered as a manual event.
    old = (now() - dt.timedelta(days=10)).replace(microsecond=0)
    event = await manual_ok(tt, employee["id"], old.isoformat(), "IN", comment="terminal was offline")
    assert instant(event["ts"]) == old


async def test_device_clock_inside_the_window_is_trusted(tt: TT) -> None:
    employees = [await tt.employee() for _ in range(3)]
    _, key = await tt.terminal()
    for employee, offset in zip(employees, (MINUTE, -6 * DAY, -(7 * DAY - MINUTE)), strict=True):
        device_ts = ms(now()) + offset
        body = check(await tt.scan(key, employee["nfc_uid"], device_ts), 200)
        assert body["status"] == "accepted"
        [event] = await tt.events(employee["id"])
        assert ms(instant(event["ts"])) == device_ts  # the device's time, to the millisecond
        received = instant(event["received_at"])
        assert abs((received - now()).total_seconds()) < 60  # received_at is the server's time


async def test_window_bounds_are_inclusive(tt: TT) -> None:
    employees = [await tt.employee() for _ in range(4)]
    _, key = await tt.terminal()
    frozen = now().replace(microsecond=0)
    with time_machine.travel(frozen, tick=False):
        base = ms(frozen)
        exactly_ahead = await tt.scan(key, employees[0]["nfc_uid"], base + 2 * MINUTE)
        just_past_ahead = await tt.scan(key, employees[1]["nfc_uid"], base + 2 * MINUTE + 1000)
        exactly_old = await tt.scan(key, employees[2]["nfc_uid"], base - 7 * DAY)
        just_past_old = await tt.scan(key, employees[3]["nfc_uid"], base - 7 * DAY - 1000)
    check(exactly_ahead, 200)
    check(just_past_ahead, 422, "clock_skew")
    check(exactly_old, 200)
    check(just_past_old, 422, "clock_skew")


async def test_scan_without_ts_gets_the_server_time(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    before = now()
    body = check(await tt.scan(key, employee["nfc_uid"]), 200)
    after = now()
    assert body["status"] == "accepted"
    [event] = await tt.events(employee["id"])
    stored = instant(event["ts"])
    assert before - dt.timedelta(seconds=1) <= stored <= after + dt.timedelta(seconds=1)
    assert before - dt.timedelta(seconds=1) <= instant(body["ts"]) <= after + dt.timedelta(seconds=1)


async def test_skew_is_judged_against_the_server_clock_and_in_batches(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    device_now = now()
    with time_machine.travel(device_now + dt.timedelta(minutes=10), tick=True):
        # The server is 10 minutes ahead of this (correct) device: still trusted.
        assert (await tt.scan(key, employee["nfc_uid"], ms(device_now))).status_code == 200
    with time_machine.travel(device_now - dt.timedelta(minutes=10), tick=True):
        # The device is 10 minutes ahead of the server: refused.
        late = await tt.scan(key, employee["nfc_uid"], ms(device_now + dt.timedelta(hours=1)))
        check(late, 422, "clock_skew")
    results = await batch(
        tt,
        key,
        [
            {"uid": employee["nfc_uid"], "ts": ms(now()) + 10 * MINUTE},
            {"uid": employee["nfc_uid"], "ts": ms(now()) - 8 * DAY},
            {"uid": employee["nfc_uid"], "ts": ms(now()) - 3 * MINUTE},
        ],
    )
    assert [r["http_status"] for r in results] == [422, 422, 200]
    assert [r.get("code") for r in results[:2]] == ["clock_skew", "clock_skew"]
    assert len(await tt.events(employee["id"])) == 2


async def test_heartbeat_gives_the_server_clock_to_correct_against(tt: TT) -> None:
    _, key = await tt.terminal()
    target = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(target, tick=False):
        beat = await tt.client.post("/api/terminal/heartbeat", headers={"X-Terminal-Key": key})
    body = check(beat, 200)
    assert body["server_time_ms"] == ms(target)
    assert instant(body["server_time"]) == target
    assert body["cooldown_seconds"] == 5
