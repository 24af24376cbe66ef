"""Area 7: manual events around DST (R9): exact offsets, gaps, the repeated hour, overlaps."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.apps.timetracker.conftest import TT

from .helpers import HOUR, UTC, check, instant, manual_ok

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize("naive", ["2026-10-25T02:30:00", "2026-10-25T02:00:00", "2026-10-25T02:59:59"])
async def test_naive_time_in_the_repeated_hour_is_422(tt: TT, naive: str) -> None:
    employee = await tt.employee()
    response = await tt.manual(employee["id"], naive, "IN")
    body = check(response, 422)
    assert "detail" in body and "code" in body
    assert await tt.events(employee["id"]) == []


@pytest.mark.parametrize("naive", ["2026-03-29T02:30:00", "2026-03-29T02:00:00", "2026-03-29T02:59:59"])
async def test_nonexistent_local_time_is_422(tt: TT, naive: str) -> None:
    employee = await tt.employee()
    body = check(await tt.manual(employee["id"], naive, "IN"), 422)
    assert "detail" in body and "code" in body
    assert await tt.events(employee["id"]) == []


async def test_offsets_in_the_repeated_hour_are_exact(tt: TT) -> None:
    employee = await tt.employee()
    first = await manual_ok(tt, employee["id"], "2026-10-25T02:30:00+02:00", "IN")
    second = await manual_ok(tt, employee["id"], "2026-10-25T02:30:00+01:00", "OUT")
    assert instant(first["ts"]) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert instant(second["ts"]) == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    day = (await tt.daily(employee["id"], "2026-10-25", "2026-10-25"))["items"][0]
    assert day["worked_seconds"] == HOUR  # "02:30 to 02:30" is one hour that night
    assert day["first_in_local"] == "02:30:00" and day["last_out_local"] == "02:30:00"


@pytest.mark.parametrize(
    ("timestamp", "utc"),
    [
        ("2026-10-25T00:30:00Z", dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25T01:59:59", dt.datetime(2026, 10, 24, 23, 59, 59, tzinfo=UTC)),  # still CEST
        ("2026-10-25T03:00:00", dt.datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),  # CET again
        ("2026-03-29T01:59:59", dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)),  # last CET second
        ("2026-03-29T03:00:00", dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # first CEST
        ("2026-03-29T02:30:00+01:00", dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # explicit: exact
        ("2026-03-29T02:30:00+05:30", dt.datetime(2026, 3, 28, 21, 0, tzinfo=UTC)),
    ],
)
async def test_manual_timestamps_are_converted_exactly(tt: TT, timestamp: str, utc: dt.datetime) -> None:
    employee = await tt.employee()
    event = await manual_ok(tt, employee["id"], timestamp, "in")
    assert instant(event["ts"]) == utc
    assert event["direction"] == "IN" and event["is_manual"] is True
    assert event["direction_source"] == "manual" and event["terminal_id"] is None
    [stored] = await tt.events(employee["id"])
    assert instant(stored["ts"]) == utc


async def test_naive_times_are_in_the_employees_own_zone(tt: TT) -> None:
    warsaw = await tt.employee()
    new_york = await tt.employee(timezone="America/New_York")
    # 2026-11-01 01:30 is repeated in New York, not in Warsaw.
    check(await tt.manual(new_york["id"], "2026-11-01T01:30:00", "IN"), 422)
    event = await manual_ok(tt, warsaw["id"], "2026-11-01T01:30:00", "IN")
    assert instant(event["ts"]) == dt.datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    # 2026-03-08 02:30 does not exist in New York.
    check(await tt.manual(new_york["id"], "2026-03-08T02:30:00", "IN"), 422)
    # A plain time there is New York time.
    event = await manual_ok(tt, new_york["id"], "2026-07-01T09:00:00", "IN")
    expected = dt.datetime(2026, 7, 1, 9, 0, tzinfo=NEW_YORK).astimezone(UTC)
    assert instant(event["ts"]) == expected
    # The 2026-03-29 02:30 gap of Warsaw is an ordinary time in New York.
    ok = await manual_ok(tt, new_york["id"], "2026-03-29T02:30:00", "IN")
    assert instant(ok["ts"]) == dt.datetime(2026, 3, 29, 6, 30, tzinfo=UTC)


async def test_manual_event_inside_a_closed_interval_is_409_overlap(tt: TT) -> None:
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], "2026-10-20T08:00:00", "IN")
    await manual_ok(tt, employee["id"], "2026-10-20T16:00:00", "OUT")
    for direction in ("IN", "OUT"):
        check(await tt.manual(employee["id"], "2026-10-20T12:00:00", direction), 409, "overlap")
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN", "OUT"]
    # Outside the interval is fine.
    await manual_ok(tt, employee["id"], "2026-10-20T17:00:00", "IN")
    await manual_ok(tt, employee["id"], "2026-10-20T18:00:00", "OUT")
    assert (await tt.daily(employee["id"], "2026-10-20", "2026-10-20"))["total_seconds"] == 9 * HOUR


async def test_overlap_across_the_repeated_hour(tt: TT) -> None:
    """A night 2026-10-24 22:00 to 2026-10-25 06:00: 02:30 in either offset lies inside it."""
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], "2026-10-24T22:00:00", "IN")
    await manual_ok(tt, employee["id"], "2026-10-25T06:00:00", "OUT")
    for timestamp in ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"):
        check(await tt.manual(employee["id"], timestamp, "IN"), 409, "overlap")
    assert len(await tt.events(employee["id"])) == 2


@pytest.mark.parametrize("comment", [None, ""])
async def test_comment_is_required(tt: TT, comment: str | None) -> None:
    employee = await tt.employee()
    body = {"employee_id": employee["id"], "timestamp": "2026-10-20T08:00:00", "direction": "IN"}
    if comment is not None:
        body["comment"] = comment
    response = await tt.client.post("/api/events/manual", json=body, headers=tt.admin)
    check(response, 422)
    assert await tt.events(employee["id"]) == []


async def test_manual_entry_rights_and_unknown_employee(tt: TT) -> None:
    employee = await tt.employee()
    operator = await tt.headers("operator")
    user = await tt.headers("user")
    event = await manual_ok(
        tt, employee["id"], "2026-10-20T08:00:00", "In", headers=operator, comment="forgot card"
    )
    assert event["comment"] == "forgot card" and event["direction"] == "IN"
    assert (await tt.manual(employee["id"], "2026-10-20T16:00:00", "OUT", headers=user)).status_code == 403
    check(await tt.manual(999_999, "2026-10-20T16:00:00", "OUT"), 404)
    check(await tt.manual(employee["id"], "2026-10-20T16:00:00", "SIDEWAYS"), 422)


async def test_corrections_follow_the_same_time_rules(tt: TT) -> None:
    employee = await tt.employee()
    await manual_ok(tt, employee["id"], "2026-10-24T22:00:00", "IN")
    out = await manual_ok(tt, employee["id"], "2026-10-25T05:00:00", "OUT")
    for naive in ("2026-10-25T02:30:00", "2026-03-29T02:30:00"):
        response = await tt.client.patch(
            f"/api/events/{out['id']}", json={"timestamp": naive, "reason": "typo"}, headers=tt.admin
        )
        check(response, 422)
    exact = await tt.client.patch(
        f"/api/events/{out['id']}",
        json={"timestamp": "2026-10-25T02:30:00+01:00", "reason": "left in the second 02:30"},
        headers=tt.admin,
    )
    assert instant(check(exact, 200)["ts"]) == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    report = await tt.daily(employee["id"], "2026-10-24", "2026-10-25")
    # 22:00 CEST to 02:30 CET: 2 h + 3.5 h.
    assert [d["worked_seconds"] for d in report["items"]] == [2 * HOUR, 3 * HOUR + 1800]
