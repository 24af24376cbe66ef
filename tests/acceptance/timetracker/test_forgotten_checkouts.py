"""Area 2: forgotten check-outs, the maximum shift and open shifts (R2, R3)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
import time_machine

from tests.apps.timetracker.conftest import TT

from .helpers import (
    HOUR,
    WARSAW,
    cell,
    instant,
    interval_view,
    manual_ok,
    ms,
    now,
    schedule,
    today_local,
    wall,
)

MakeClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def _days_ago(n: int) -> dt.date:
    return today_local() - dt.timedelta(days=n)


def _missing(items: list[dict]) -> list[dict]:
    return [a for d in items for a in d["anomalies"] if a["code"] == "MISSING_OUT"]


async def test_forgotten_check_out_is_flagged_adds_nothing_and_next_day_pair_is_right(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day, next_day = _days_ago(4), _days_ago(3)
    forgotten = await tt.scan(key, employee["nfc_uid"], ms(wall(day, 8)))
    assert forgotten.json()["direction"] == "IN"
    # 24 h later, well past MAX_SHIFT_HOURS: this is the next morning's IN, not a check-out.
    morning = await tt.scan(key, employee["nfc_uid"], ms(wall(next_day, 8)))
    evening = await tt.scan(key, employee["nfc_uid"], ms(wall(next_day, 16)))
    assert morning.status_code == 200 and morning.json()["direction"] == "IN", morning.text
    assert evening.status_code == 200 and evening.json()["direction"] == "OUT", evening.text
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN", "IN", "OUT"]

    report = await tt.daily(employee["id"], day.isoformat(), next_day.isoformat())
    first, second = report["items"]
    assert first["worked_seconds"] == 0 and first["auto_closed"] is False and first["open_shift"] is False
    [anomaly] = _missing(report["items"])
    assert instant(anomaly["ts_utc"]) == wall(day, 8)
    assert {"code", "ts_utc", "ts_local", "details"} <= set(anomaly)
    assert second["worked_seconds"] == 8 * HOUR and second["first_in_local"] == "08:00:00"
    assert second["last_out_local"] == "16:00:00"
    assert report["total_seconds"] == 8 * HOUR

    view = await interval_view(tt, employee["id"], day.isoformat(), next_day.isoformat())
    assert view["total_seconds"] == 8 * HOUR and view["open_shift"] is False
    assert [a["code"] for a in view["anomalies"]] == ["MISSING_OUT"]
    assert instant(view["anomalies"][0]["ts_utc"]) == wall(day, 8)
    # No interval is invented for the forgotten one (at most a zero one; never a 23:59:59 close).
    for interval in view["intervals"]:
        if instant(interval["in_utc"]) == wall(day, 8):
            assert interval["seconds"] == 0
    closed = [i for i in view["intervals"] if i["seconds"] > 0]
    assert [(instant(i["in_utc"]), instant(i["out_utc"])) for i in closed] == [
        (wall(next_day, 8), wall(next_day, 16))
    ]


async def test_a_scan_inside_the_maximum_shift_closes_and_one_past_it_opens(tt: TT) -> None:
    long_shift, forgot = await tt.employee(), await tt.employee()
    _, key = await tt.terminal()
    start = wall(_days_ago(5), 6)
    for employee in (long_shift, forgot):
        assert (await tt.scan(key, employee["nfc_uid"], ms(start))).json()["direction"] == "IN"
    inside = await tt.scan(key, long_shift["nfc_uid"], ms(start + dt.timedelta(hours=15, minutes=59)))
    past = await tt.scan(key, forgot["nfc_uid"], ms(start + dt.timedelta(hours=16, minutes=1)))
    assert inside.json()["direction"] == "OUT"
    assert past.json()["direction"] == "IN"
    closing = await tt.scan(key, forgot["nfc_uid"], ms(start + dt.timedelta(hours=17, minutes=1)))
    assert closing.json()["direction"] == "OUT"
    day = _days_ago(5).isoformat()
    last = _days_ago(4).isoformat()
    assert (await tt.daily(long_shift["id"], day, last))["total_seconds"] == 15 * HOUR + 59 * 60
    report = await tt.daily(forgot["id"], day, last)
    assert report["total_seconds"] == HOUR  # only the new IN's hour; the forgotten one adds 0 h
    [anomaly] = _missing(report["items"])
    assert instant(anomaly["ts_utc"]) == start


async def test_schedule_end_policy_closes_at_the_scheduled_end(tt: TT, make_client: MakeClient) -> None:
    async with make_client(timetracker_missing_out_policy="schedule_end") as client:
        tt.client = client
        employee, unscheduled = await tt.employee(), await tt.employee()
        _, key = await tt.terminal()
        day, next_day = _days_ago(4), _days_ago(3)
        await schedule(
            tt,
            [
                cell(employee["id"], day.isoformat(), "08:00", "16:00"),
                cell(employee["id"], next_day.isoformat(), "08:00", "16:00"),
            ],
        )
        for who in (employee, unscheduled):
            assert (await tt.scan(key, who["nfc_uid"], ms(wall(day, 8, 3)))).json()["direction"] == "IN"
        assert (await tt.scan(key, employee["nfc_uid"], ms(wall(next_day, 8)))).json()["direction"] == "IN"
        assert (await tt.scan(key, employee["nfc_uid"], ms(wall(next_day, 16)))).json()["direction"] == "OUT"

        report = await tt.daily(employee["id"], day.isoformat(), next_day.isoformat())
        first, second = report["items"]
        assert first["worked_seconds"] == 8 * HOUR - 180
        assert first["auto_closed"] is True and first["last_out_local"] == "16:00:00"
        assert [a["code"] for a in first["anomalies"]] == ["MISSING_OUT"]
        assert second["worked_seconds"] == 8 * HOUR and second["auto_closed"] is False
        view = await interval_view(tt, employee["id"], day.isoformat(), next_day.isoformat())
        auto = [i for i in view["intervals"] if i["auto_closed"]]
        assert len(auto) == 1 and instant(auto[0]["out_utc"]) == wall(day, 16)
        assert auto[0]["seconds"] == 8 * HOUR - 180 and auto[0]["open"] is False
        assert view["total_seconds"] == 2 * 8 * HOUR - 180

        # A day without a schedule falls back to the flag policy: nothing is invented.
        other = (await tt.daily(unscheduled["id"], day.isoformat(), day.isoformat()))["items"][0]
        assert other["worked_seconds"] == 0 and other["auto_closed"] is False
        assert [a["code"] for a in other["anomalies"]] == ["MISSING_OUT"]


@pytest.mark.parametrize(
    ("first_day", "second_day", "after_midnight"),
    [("2026-03-28", "2026-03-29", 5), ("2026-10-24", "2026-10-25", 7)],
    ids=["spring_forward", "fall_back"],
)
async def test_schedule_end_closes_a_dst_night_at_6_local(
    tt: TT, make_client: MakeClient, first_day: str, second_day: str, after_midnight: int
) -> None:
    async with make_client(timetracker_missing_out_policy="schedule_end") as client:
        tt.client = client
        employee = await tt.employee()
        await schedule(tt, [cell(employee["id"], first_day, "22:00", "06:00")])
        await manual_ok(tt, employee["id"], f"{first_day}T22:00:00", "IN")
        report = await tt.daily(employee["id"], first_day, second_day)
        first, second = report["items"]
        assert [first["worked_seconds"], second["worked_seconds"]] == [2 * HOUR, after_midnight * HOUR]
        assert first["auto_closed"] is True and second["auto_closed"] is True  # every day it touches
        assert second["last_out_local"] == "06:00:00"
        assert first["expected_seconds"] == (2 + after_midnight) * HOUR and first["overtime_seconds"] == 0
        assert len(_missing(report["items"])) == 1
        view = await interval_view(tt, employee["id"], first_day, second_day)
        [interval] = view["intervals"]
        assert interval["auto_closed"] is True and instant(interval["out_utc"]) == wall(second_day, 6)


async def test_schedule_end_leaves_a_young_open_in_open(tt: TT, make_client: MakeClient) -> None:
    """Under schedule_end too, an IN younger than the maximum counts up to now (R3)."""
    day = _days_ago(3)
    async with make_client(timetracker_missing_out_policy="schedule_end") as client:
        tt.client = client
        employee = await tt.employee()
        _, key = await tt.terminal()
        await schedule(tt, [cell(employee["id"], day.isoformat(), "08:00", "16:00")])
        await tt.scan(key, employee["nfc_uid"], ms(wall(day, 8)))
        with time_machine.travel(wall(day, 18), tick=False):
            admin = await tt.headers("admin")
            evening = (await tt.daily(employee["id"], day.isoformat(), day.isoformat(), headers=admin))[
                "items"
            ][0]
        with time_machine.travel(wall(day + dt.timedelta(days=1), 1), tick=False):
            admin = await tt.headers("admin")
            night = (await tt.daily(employee["id"], day.isoformat(), day.isoformat(), headers=admin))[
                "items"
            ][0]
    assert evening["worked_seconds"] == 10 * HOUR and evening["open_shift"] is True
    assert evening["auto_closed"] is False and evening["anomalies"] == []
    assert night["worked_seconds"] == 8 * HOUR and night["auto_closed"] is True
    assert night["open_shift"] is False and [a["code"] for a in night["anomalies"]] == ["MISSING_OUT"]


async def test_an_in_open_now_counts_up_to_now(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    started = now() - dt.timedelta(hours=2)
    assert (await tt.scan(key, employee["nfc_uid"], ms(started))).json()["direction"] == "IN"
    first_day = started.astimezone(WARSAW).date().isoformat()
    last_day = today_local().isoformat()

    view = await interval_view(tt, employee["id"], first_day, last_day)
    assert view["open_shift"] is True
    [interval] = view["intervals"]
    assert interval["open"] is True and interval["out_utc"] is None and interval["auto_closed"] is False
    assert 2 * HOUR - 5 <= interval["seconds"] <= 2 * HOUR + 120
    assert 2 * HOUR - 5 <= view["total_seconds"] <= 2 * HOUR + 120
    assert view["anomalies"] == []

    report = await tt.daily(employee["id"], first_day, last_day)
    assert 2 * HOUR - 5 <= report["total_seconds"] <= 2 * HOUR + 120
    touched = [d for d in report["items"] if d["worked_seconds"] > 0]
    assert touched and all(d["open_shift"] is True for d in touched)
    # No report invents a close at 23:59:59.
    assert all(d["last_out_local"] is None for d in report["items"])
    assert _missing(report["items"]) == []


async def test_an_open_in_becomes_missing_out_once_older_than_the_maximum(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    started = now() - dt.timedelta(hours=1)
    await tt.scan(key, employee["nfc_uid"], ms(started))
    with time_machine.travel(now() + dt.timedelta(hours=16), tick=True):
        admin = await tt.headers("admin")
        first_day = started.astimezone(WARSAW).date().isoformat()
        last_day = today_local().isoformat()
        report = await tt.daily(employee["id"], first_day, last_day, headers=admin)
        view = await interval_view(tt, employee["id"], first_day, last_day, headers=admin)
        # The next scan, now 17 h after the IN, is an IN again.
        later = await tt.scan(key, employee["nfc_uid"], ms(now()))
    assert report["total_seconds"] == 0
    assert all(d["open_shift"] is False for d in report["items"])
    assert len(_missing(report["items"])) == 1
    assert view["open_shift"] is False and [a["code"] for a in view["anomalies"]] == ["MISSING_OUT"]
    assert later.status_code == 200 and later.json()["direction"] == "IN"


async def test_a_device_out_after_the_maximum_does_not_close_the_forgotten_in(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    start = wall(_days_ago(5), 8)
    await tt.scan(key, employee["nfc_uid"], ms(start), direction="IN")
    await tt.scan(key, employee["nfc_uid"], ms(start + dt.timedelta(hours=20)), direction="OUT")
    first, last = _days_ago(5).isoformat(), _days_ago(4).isoformat()
    report = await tt.daily(employee["id"], first, last)
    assert report["total_seconds"] == 0  # no 20 h shift is paid
    [anomaly] = _missing(report["items"])
    assert instant(anomaly["ts_utc"]) == start


async def test_correcting_a_forgotten_check_out_with_a_manual_out(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    day, next_day = _days_ago(4), _days_ago(3)
    await tt.scan(key, employee["nfc_uid"], ms(wall(day, 8)))
    await tt.scan(key, employee["nfc_uid"], ms(wall(next_day, 8)))
    await tt.scan(key, employee["nfc_uid"], ms(wall(next_day, 16)))
    first, last = day.isoformat(), next_day.isoformat()
    assert len(_missing((await tt.daily(employee["id"], first, last))["items"])) == 1
    await manual_ok(tt, employee["id"], wall(day, 16, 30).isoformat(), "OUT", comment="forgot to tap out")
    report = await tt.daily(employee["id"], first, last)
    assert _missing(report["items"]) == []
    assert [d["worked_seconds"] for d in report["items"]] == [8 * HOUR + 1800, 8 * HOUR]
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN", "OUT", "IN", "OUT"]


async def test_an_open_night_shift_is_open_on_both_days(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    yesterday = _days_ago(3)
    today = yesterday + dt.timedelta(days=1)
    with time_machine.travel(wall(today, 2), tick=False):
        admin = await tt.headers("admin")
        await tt.scan(key, employee["nfc_uid"], ms(wall(yesterday, 22)))
        report = await tt.daily(employee["id"], yesterday.isoformat(), today.isoformat(), headers=admin)
        view = await interval_view(tt, employee["id"], today.isoformat(), today.isoformat(), headers=admin)
    assert [d["worked_seconds"] for d in report["items"]] == [2 * HOUR, 2 * HOUR]
    assert [d["open_shift"] for d in report["items"]] == [True, True]
    assert [d["last_out_local"] for d in report["items"]] == [None, None]
    assert report["items"][0]["first_in_local"] == "22:00:00"
    assert view["open_shift"] is True and view["total_seconds"] == 2 * HOUR
    [interval] = view["intervals"]
    assert interval["open"] is True and interval["out_utc"] is None and interval["seconds"] == 2 * HOUR


async def test_missing_out_in_the_repeated_hour_keeps_its_offset(tt: TT) -> None:
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], "2026-10-25T02:30:00+01:00", "IN")
    report = await tt.daily(employee["id"], "2026-10-25", "2026-10-26")
    [anomaly] = _missing(report["items"])
    assert instant(anomaly["ts_utc"]) == dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC)
    local = dt.datetime.fromisoformat(anomaly["ts_local"])
    assert (local.hour, local.minute) == (2, 30)
    if local.tzinfo is not None:
        assert local.utcoffset() == dt.timedelta(hours=1)
    assert report["items"][0]["anomalies"] and report["total_seconds"] == 0
