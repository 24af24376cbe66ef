"""Area 4: double taps and simultaneous terminals (R4 cooldown of 5 s, R8)."""

from __future__ import annotations

import asyncio
import datetime as dt

from tests.apps.timetracker.conftest import TT

from .helpers import batch, check, ms, now


def _t0() -> int:
    return ms(now() - dt.timedelta(hours=2))


async def test_tap_within_the_cooldown_after_is_a_duplicate_naming_the_accepted_event(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = _t0()
    accepted = check(await tt.scan(key, employee["nfc_uid"], t0), 200)
    assert accepted["status"] == "accepted" and accepted["ok"] is True
    for offset_ms in (0, 1, 2500, 4999):
        again = check(await tt.scan(key, employee["nfc_uid"], t0 + offset_ms), 200)
        assert again["ok"] is True and again["status"] == "duplicate", (offset_ms, again)
        assert again["event_id"] == accepted["event_id"]
    assert [e["id"] for e in await tt.events(employee["id"])] == [accepted["event_id"]]


async def test_tap_within_the_cooldown_before_is_a_duplicate_too(tt: TT) -> None:
    """An offline terminal uploads a tap made just before one that is already stored."""
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    t0 = _t0()
    accepted = check(await tt.scan(online, employee["nfc_uid"], t0), 200)
    for offset_ms in (1, 3000, 4999):
        earlier = check(await tt.scan(offline, employee["nfc_uid"], t0 - offset_ms), 200)
        assert earlier["status"] == "duplicate" and earlier["event_id"] == accepted["event_id"]
    assert len(await tt.events(employee["id"])) == 1


async def test_exactly_five_seconds_apart_is_accepted_on_either_side(tt: TT) -> None:
    before, after = await tt.employee(), await tt.employee()
    _, key = await tt.terminal()
    t0 = _t0()
    first = check(await tt.scan(key, after["nfc_uid"], t0), 200)
    later = check(await tt.scan(key, after["nfc_uid"], t0 + 5000), 200)
    assert later["status"] == "accepted" and later["event_id"] != first["event_id"]
    assert later["direction"] == "OUT"
    check(await tt.scan(key, before["nfc_uid"], t0), 200)
    earlier = check(await tt.scan(key, before["nfc_uid"], t0 - 5000), 200)
    assert earlier["status"] == "accepted" and earlier["direction"] == "IN"
    assert len(await tt.events(after["id"])) == 2 and len(await tt.events(before["id"])) == 2


async def test_a_refused_duplicate_does_not_extend_the_cooldown(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = _t0()
    first = check(await tt.scan(key, employee["nfc_uid"], t0), 200)
    assert check(await tt.scan(key, employee["nfc_uid"], t0 + 3000), 200)["status"] == "duplicate"
    third = check(await tt.scan(key, employee["nfc_uid"], t0 + 5000), 200)
    assert third["status"] == "accepted" and third["event_id"] != first["event_id"]


async def test_cooldown_is_per_employee(tt: TT) -> None:
    alice, bob = await tt.employee(), await tt.employee()
    _, key = await tt.terminal()
    t0 = _t0()
    assert check(await tt.scan(key, alice["nfc_uid"], t0), 200)["status"] == "accepted"
    assert check(await tt.scan(key, bob["nfc_uid"], t0 + 100), 200)["status"] == "accepted"


async def test_double_tap_inside_one_batch(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = _t0()
    results = await batch(
        tt,
        key,
        [{"uid": employee["nfc_uid"], "ts": t0 + 2000}, {"uid": employee["nfc_uid"], "ts": t0}],
    )
    # Applied in ts order: the earlier tap is the accepted one.
    assert results[1]["status"] == "accepted"
    assert results[0]["status"] == "duplicate" and results[0]["event_id"] == results[1]["event_id"]
    assert [r["http_status"] for r in results] == [200, 200]
    assert len(await tt.events(employee["id"])) == 1


async def test_two_terminals_50_ms_apart_give_one_event(tt: TT) -> None:
    employees = [await tt.employee() for _ in range(3)]
    _, left = await tt.terminal()
    _, right = await tt.terminal()
    t0 = _t0()
    calls = []
    for employee in employees:
        calls.append(tt.scan(left, employee["nfc_uid"], t0))
        calls.append(tt.scan(right, employee["nfc_uid"], t0 + 50))
    responses = await asyncio.gather(*calls)
    for n, employee in enumerate(employees):
        pair = [check(r, 200) for r in responses[2 * n : 2 * n + 2]]
        assert sorted(p["status"] for p in pair) == ["accepted", "duplicate"], pair
        assert pair[0]["event_id"] == pair[1]["event_id"]
        events = await tt.events(employee["id"])
        assert len(events) == 1 and events[0]["direction"] == "IN"
        assert events[0]["id"] == pair[0]["event_id"]


async def test_two_terminals_50_ms_apart_one_after_the_other(tt: TT) -> None:
    employee = await tt.employee()
    _, left = await tt.terminal()
    _, right = await tt.terminal()
    t0 = _t0()
    first = check(await tt.scan(right, employee["nfc_uid"], t0 + 50), 200)
    second = check(await tt.scan(left, employee["nfc_uid"], t0), 200)
    assert first["status"] == "accepted" and second["status"] == "duplicate"
    assert second["event_id"] == first["event_id"]
    assert len(await tt.events(employee["id"])) == 1


async def test_an_explicit_direction_does_not_escape_the_cooldown(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = _t0()
    accepted = check(await tt.scan(key, employee["nfc_uid"], t0, direction="IN"), 200)
    again = check(await tt.scan(key, employee["nfc_uid"], t0 + 2000, direction="OUT"), 200)
    assert again["status"] == "duplicate" and again["event_id"] == accepted["event_id"]
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN"]


async def test_a_late_tap_between_two_accepted_scans(tt: TT) -> None:
    employee = await tt.employee()
    _, online = await tt.terminal()
    _, offline = await tt.terminal()
    t0 = _t0()
    first = check(await tt.scan(online, employee["nfc_uid"], t0), 200)
    second = check(await tt.scan(online, employee["nfc_uid"], t0 + 10_000), 200)
    near_second = check(await tt.scan(offline, employee["nfc_uid"], t0 + 6_000), 200)
    assert near_second["status"] == "duplicate" and near_second["event_id"] == second["event_id"]
    near_first = check(await tt.scan(offline, employee["nfc_uid"], t0 + 4_000), 200)
    assert near_first["status"] == "duplicate" and near_first["event_id"] == first["event_id"]
    middle = check(await tt.scan(offline, employee["nfc_uid"], t0 + 5_000), 200)
    assert middle["status"] == "accepted"  # exactly 5 s from both
    assert len(await tt.events(employee["id"])) == 3
