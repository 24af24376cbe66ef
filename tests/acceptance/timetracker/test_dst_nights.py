"""Area 1: night shifts over the DST changes of Europe/Warsaw (R1, plan vs actual)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from tests.apps.timetracker.conftest import TT

from .helpers import HOUR, UTC, cell, dates, instant, interval_view, manual_ok, ms, schedule, wall

# (night start day, next day, hours before midnight, hours after midnight)
SPRING = ("2026-03-28", "2026-03-29", 2, 5)
AUTUMN = ("2026-10-24", "2026-10-25", 2, 7)


@pytest.mark.parametrize("night", [SPRING, AUTUMN], ids=["spring_forward", "fall_back"])
async def test_night_scanned_at_the_door_is_elapsed_time_split_by_local_day(tt: TT, night: tuple) -> None:
    first, second, before, after = night
    employee = await tt.employee()
    _, key = await tt.terminal()
    check_in, check_out = wall(first, 22), wall(second, 6)
    # The terminal uploads these scans the morning after (within the 7-day window of that day).
    with time_machine.travel(wall(second, 12), tick=True):
        admin = await tt.headers("admin")
        scan_in = await tt.scan(key, employee["nfc_uid"], ms(check_in))
        scan_out = await tt.scan(key, employee["nfc_uid"], ms(check_out))
        assert scan_in.status_code == 200 and scan_in.json()["direction"] == "IN", scan_in.text
        assert scan_out.status_code == 200 and scan_out.json()["direction"] == "OUT", scan_out.text
        report = await tt.daily(employee["id"], first, second, headers=admin)
        view = await interval_view(tt, employee["id"], first, second, headers=admin)
    assert (check_out - check_in).total_seconds() == (before + after) * HOUR
    day1, day2 = report["items"]
    assert [day1["date_local"], day2["date_local"]] == [first, second]
    assert day1["worked_seconds"] == before * HOUR and day2["worked_seconds"] == after * HOUR
    assert day1["worked_hms"] == f"{before}:00:00" and day2["worked_hms"] == f"{after}:00:00"
    assert day1["worked_minutes"] == before * 60 and day2["worked_minutes"] == after * 60
    assert day1["first_in_local"] == "22:00:00" and day2["last_out_local"] == "06:00:00"
    assert report["total_seconds"] == (before + after) * HOUR
    assert report["total_hms"] == f"{before + after}:00:00"
    assert view["total_seconds"] == (before + after) * HOUR
    [interval] = view["intervals"]
    assert instant(interval["in_utc"]) == check_in and instant(interval["out_utc"]) == check_out
    assert interval["seconds"] == (before + after) * HOUR and interval["open"] is False


@pytest.mark.parametrize("night", [SPRING, AUTUMN], ids=["spring_forward", "fall_back"])
async def test_manual_night_shows_local_times_with_the_right_offsets(tt: TT, night: tuple) -> None:
    first, second, before, after = night
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], f"{first}T22:00:00", "IN")
    await manual_ok(tt, employee["id"], f"{second}T06:00:00", "OUT")
    report = await tt.daily(employee["id"], first, second)
    assert [d["worked_seconds"] for d in report["items"]] == [before * HOUR, after * HOUR]
    view = await interval_view(tt, employee["id"], first, second)
    [interval] = view["intervals"]
    in_local = dt.datetime.fromisoformat(interval["in_local"])
    out_local = dt.datetime.fromisoformat(interval["out_local"])
    assert (in_local.hour, in_local.minute) == (22, 0) and (out_local.hour, out_local.minute) == (6, 0)
    expected_offsets = (1, 2) if first == SPRING[0] else (2, 1)  # CET->CEST in March, CEST->CET in October
    if in_local.tzinfo is not None and out_local.tzinfo is not None:
        assert in_local.utcoffset() == dt.timedelta(hours=expected_offsets[0])
        assert out_local.utcoffset() == dt.timedelta(hours=expected_offsets[1])
    assert instant(interval["in_utc"]) == wall(first, 22)


@pytest.mark.parametrize("night", [SPRING, AUTUMN], ids=["spring_forward", "fall_back"])
async def test_scheduled_night_expects_elapsed_time(tt: TT, night: tuple) -> None:
    first, second, before, after = night
    on_time, early, absent = await tt.employee(), await tt.employee(), await tt.employee()
    await schedule(tt, [cell(e["id"], first, "22:00", "06:00") for e in (on_time, early, absent)])
    await manual_ok(tt, on_time["id"], f"{first}T22:00:00", "IN")
    await manual_ok(tt, on_time["id"], f"{second}T06:00:00", "OUT")
    # One hour early (inside the check-in window): early arrival counts as overtime.
    await manual_ok(tt, early["id"], f"{first}T21:00:00", "IN")
    await manual_ok(tt, early["id"], f"{second}T06:00:00", "OUT")
    shift = (before + after) * HOUR  # 7 h on the spring night, 9 h on the autumn night

    day1, day2 = (await tt.daily(on_time["id"], first, second))["items"]
    assert day1["expected_seconds"] == shift, day1
    assert day1["overtime_seconds"] == 0 and day1["late_minutes"] == 0 and day1["early_exit_minutes"] == 0
    assert day1["absent"] is False
    # Worked time stays split by calendar day while the plan belongs to the schedule's day.
    assert day1["worked_seconds"] == before * HOUR and day2["worked_seconds"] == after * HOUR
    assert day2["expected_seconds"] == 0 and day2["overtime_seconds"] == 0 and day2["absent"] is False

    day1, _ = (await tt.daily(early["id"], first, second))["items"]
    assert (
        day1["expected_seconds"] == shift and day1["overtime_seconds"] == HOUR and day1["late_minutes"] == 0
    )

    day1, day2 = (await tt.daily(absent["id"], first, second))["items"]
    assert day1["absent"] is True and day1["expected_seconds"] == shift and day1["worked_seconds"] == 0
    assert day2["absent"] is False


@pytest.mark.parametrize(
    ("first", "last", "dst_night", "month_end_night", "weeks", "months"),
    [
        (
            "2026-03-23",
            "2026-04-05",
            "2026-03-28",
            "2026-03-31",
            [("2026-03-23", "2026-03-29", 7), ("2026-03-30", "2026-04-05", 8)],
            [("2026-03", "2026-03-23", "2026-03-31", 9), ("2026-04", "2026-04-01", "2026-04-05", 6)],
        ),
        (
            "2026-10-22",
            "2026-11-01",
            "2026-10-24",
            "2026-10-31",
            [("2026-10-22", "2026-10-25", 9), ("2026-10-26", "2026-11-01", 8)],
            [("2026-10", "2026-10-22", "2026-10-31", 11), ("2026-11", "2026-11-01", "2026-11-01", 6)],
        ),
    ],
    ids=["spring_forward", "fall_back"],
)
async def test_daily_items_weeks_and_months_over_a_dst_night(
    tt: TT, first: str, last: str, dst_night: str, month_end_night: str, weeks: list, months: list
) -> None:
    employee = await tt.employee()
    for night in (dst_night, month_end_night):
        next_day = (dt.date.fromisoformat(night) + dt.timedelta(days=1)).isoformat()
        await manual_ok(tt, employee["id"], f"{night}T22:00:00", "IN")
        await manual_ok(tt, employee["id"], f"{next_day}T06:00:00", "OUT")
    report = await tt.daily(employee["id"], first, last)
    assert report["from_date"] == first and report["to_date"] == last
    assert [d["date_local"] for d in report["items"]] == dates(first, last)  # every day present
    worked = {d["date_local"]: d["worked_seconds"] for d in report["items"]}
    assert sum(worked.values()) == report["total_seconds"]
    assert report["total_seconds"] == sum(w[2] for w in weeks) * HOUR
    assert [(w["week_start"], w["week_end"], w["worked_seconds"]) for w in report["weeks"]] == [
        (start, end, hours * HOUR) for start, end, hours in weeks
    ]
    assert [w["worked_hms"] for w in report["weeks"]] == [f"{h}:00:00" for _, _, h in weeks]
    assert [(m["month"], m["start"], m["end"], m["worked_seconds"]) for m in report["months"]] == [
        (month, start, end, hours * HOUR) for month, start, end, hours in months
    ]
    assert [m["worked_hms"] for m in report["months"]] == [f"{h}:00:00" for *_, h in months]
    # The daily figures themselves: the month-end night is 2 h + 6 h across the month boundary.
    dst_next = (dt.date.fromisoformat(dst_night) + dt.timedelta(days=1)).isoformat()
    month_next = (dt.date.fromisoformat(month_end_night) + dt.timedelta(days=1)).isoformat()
    assert worked[month_end_night] == 2 * HOUR and worked[month_next] == 6 * HOUR
    assert worked[dst_night] == 2 * HOUR and worked[dst_next] == (weeks[0][2] - 2) * HOUR
    busy = {dst_night, dst_next, month_end_night, month_next}
    assert all(seconds == 0 for day, seconds in worked.items() if day not in busy)


async def test_a_week_of_nights_over_spring_forward_sums_in_weeks_and_months(tt: TT) -> None:
    """A full week of 22:00-06:00 nights, Monday 23 March to Monday 30 March 2026."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    with time_machine.travel(dt.datetime(2026, 3, 30, 10, 0, tzinfo=UTC), tick=True):
        admin = await tt.headers("admin")
        for day in dates("2026-03-23", "2026-03-29"):
            next_day = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
            for moment in (wall(day, 22), wall(next_day, 6)):
                response = await tt.scan(key, employee["nfc_uid"], ms(moment))
                assert response.status_code == 200, response.text
        report = await tt.daily(employee["id"], "2026-03-23", "2026-03-30", headers=admin)
    worked = [d["worked_seconds"] for d in report["items"]]
    # 23rd: 2 h; 24th-28th: 6 h + 2 h; 29th: 5 h (the lost hour) + 2 h; 30th: 6 h.
    assert worked == [2 * HOUR, 8 * HOUR, 8 * HOUR, 8 * HOUR, 8 * HOUR, 8 * HOUR, 7 * HOUR, 6 * HOUR]
    assert report["total_seconds"] == 7 * 8 * HOUR - HOUR
    assert [(w["week_start"], w["week_end"], w["worked_seconds"]) for w in report["weeks"]] == [
        ("2026-03-23", "2026-03-29", 49 * HOUR),
        ("2026-03-30", "2026-03-30", 6 * HOUR),
    ]
    assert report["weeks"][0]["worked_hms"] == "49:00:00"  # hours may pass 24
    assert [(m["month"], m["start"], m["end"], m["worked_seconds"]) for m in report["months"]] == [
        ("2026-03", "2026-03-23", "2026-03-30", 55 * HOUR)
    ]


async def test_a_changed_zone_re_buckets_the_night(tt: TT) -> None:
    """Reports are computed: the same instants split at London's midnights after a zone change."""
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], "2026-03-28T22:00:00+01:00", "IN")
    await manual_ok(tt, employee["id"], "2026-03-29T06:00:00+02:00", "OUT")
    warsaw = await tt.daily(employee["id"], "2026-03-28", "2026-03-29")
    assert [d["worked_seconds"] for d in warsaw["items"]] == [2 * HOUR, 5 * HOUR]
    bad = await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"timezone": "Mars/Olympus_Mons"}, headers=tt.admin
    )
    assert bad.status_code == 422
    moved = await tt.client.patch(
        f"/api/employees/{employee['id']}", json={"timezone": "Europe/London"}, headers=tt.admin
    )
    assert moved.status_code == 200, moved.text
    london = await tt.daily(employee["id"], "2026-03-28", "2026-03-29")
    # 21:00 GMT to 05:00 BST: 3 h before London's midnight, 4 h after; still 7 h elapsed.
    assert [d["worked_seconds"] for d in london["items"]] == [3 * HOUR, 4 * HOUR]
    assert london["items"][0]["first_in_local"] == "21:00:00"
    assert london["items"][1]["last_out_local"] == "05:00:00"
    assert london["total_seconds"] == 7 * HOUR


async def test_iso_weeks_and_months_across_the_new_year(tt: TT) -> None:
    employee = await tt.employee()
    with time_machine.travel(dt.datetime(2027, 1, 12, 9, 0, tzinfo=UTC), tick=True):
        admin = await tt.headers("admin")
        for day, hh_in, next_day, hh_out in [
            ("2026-12-31", 22, "2027-01-01", 6),
            ("2027-01-03", 20, "2027-01-04", 2),
        ]:
            await manual_ok(tt, employee["id"], f"{day}T{hh_in:02d}:00:00", "IN", headers=admin)
            await manual_ok(tt, employee["id"], f"{next_day}T{hh_out:02d}:00:00", "OUT", headers=admin)
        report = await tt.daily(employee["id"], "2026-12-30", "2027-01-05", headers=admin)
    # ISO week 2026-W53 runs Monday 28 December to Sunday 3 January.
    assert [(w["week_start"], w["week_end"], w["worked_seconds"]) for w in report["weeks"]] == [
        ("2026-12-30", "2027-01-03", 12 * HOUR),
        ("2027-01-04", "2027-01-05", 2 * HOUR),
    ]
    assert [(m["month"], m["start"], m["end"], m["worked_seconds"]) for m in report["months"]] == [
        ("2026-12", "2026-12-30", "2026-12-31", 2 * HOUR),
        ("2027-01", "2027-01-01", "2027-01-05", 12 * HOUR),
    ]
    assert report["total_seconds"] == 14 * HOUR


async def test_interval_view_clips_a_dst_night_to_the_range(tt: TT) -> None:
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], "2026-03-28T22:00:30", "IN")
    await manual_ok(tt, employee["id"], "2026-03-29T06:00:00", "OUT")
    evening = await interval_view(tt, employee["id"], "2026-03-28", "2026-03-28")
    morning = await interval_view(tt, employee["id"], "2026-03-29", "2026-03-29")
    assert [i["seconds"] for i in evening["intervals"]] == [2 * HOUR - 30]
    assert [i["seconds"] for i in morning["intervals"]] == [5 * HOUR]
    assert evening["total_seconds"] == 2 * HOUR - 30 and morning["total_seconds"] == 5 * HOUR
    for view in (evening, morning):  # the listed interval is the whole one; only seconds are clipped
        assert instant(view["intervals"][0]["in_utc"]) == wall("2026-03-28", 22, 0, 30)
        assert instant(view["intervals"][0]["out_utc"]) == wall("2026-03-29", 6)
    day = (await tt.daily(employee["id"], "2026-03-28", "2026-03-28"))["items"][0]
    assert day["worked_seconds"] == 2 * HOUR - 30
    assert day["worked_minutes"] == 119 and day["worked_hms"] == "1:59:30"  # minutes rounded down
    assert day["first_in_local"] == "22:00:30"
    assert (await tt.daily(employee["id"], "2026-03-28", "2026-03-29"))["total_hms"] == "6:59:30"
