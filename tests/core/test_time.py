from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
import time_machine

from basis.core.errors import Unprocessable
from basis.core.time import (
    UTC,
    ensure_utc,
    from_ms,
    get_zone,
    is_valid_zone,
    local_day_bounds,
    local_to_utc,
    parse_instant,
    split_at_local_midnights,
    to_ms,
    utcnow,
    wall_clock_to_utc,
)

WAW = get_zone("Europe/Warsaw")
SPRING = date(2026, 3, 29)  # 02:00 -> 03:00
AUTUMN = date(2026, 10, 25)  # 03:00 -> 02:00


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_utcnow_is_aware_utc_truncated_to_ms() -> None:
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), tick=False):
        now = utcnow()
    assert now == utc(2026, 5, 1, 12, 0, 0, 123000)
    assert now.tzinfo is UTC


def test_ensure_utc() -> None:
    assert ensure_utc(datetime(2026, 1, 1, 8)) == utc(2026, 1, 1, 8)
    assert ensure_utc(datetime(2026, 1, 1, 8)).tzinfo is UTC
    plus2 = timezone(timedelta(hours=2))
    converted = ensure_utc(datetime(2026, 6, 1, 10, tzinfo=plus2))
    assert converted == utc(2026, 6, 1, 8) and converted.utcoffset() == timedelta(0)


def test_ms_round_trip() -> None:
    dt = utc(2026, 3, 29, 1, 2, 3, 456000)
    assert from_ms(to_ms(dt)) == dt
    assert to_ms(utc(1970, 1, 1)) == 0
    assert to_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000
    assert from_ms(1500) == utc(1970, 1, 1, 0, 0, 1, 500000)


def test_zones() -> None:
    assert get_zone("Europe/Warsaw").key == "Europe/Warsaw"
    assert is_valid_zone("UTC") and is_valid_zone("America/New_York")
    for bad in ["Mars/Olympus", "", "localtime", "../etc/passwd", " Europe/Warsaw", "Europe"]:
        assert not is_valid_zone(bad)
    with pytest.raises(Unprocessable) as err:
        get_zone("Europe/Atlantis")
    assert err.value.code == "invalid_timezone"
    assert err.value.status_code == 422


def test_local_to_utc_plain() -> None:
    assert local_to_utc(datetime(2026, 1, 15, 8), WAW) == utc(2026, 1, 15, 7)
    assert local_to_utc(datetime(2026, 7, 15, 8), "Europe/Warsaw") == utc(2026, 7, 15, 6)


def test_local_to_utc_rejects_the_spring_gap() -> None:
    for minute in (0, 30, 59):
        with pytest.raises(Unprocessable) as err:
            local_to_utc(datetime(2026, 3, 29, 2, minute), WAW)
        assert err.value.code == "nonexistent_local_time"
    assert local_to_utc(datetime(2026, 3, 29, 1, 59, 59), WAW) == utc(2026, 3, 29, 0, 59, 59)
    assert local_to_utc(datetime(2026, 3, 29, 3, 0), WAW) == utc(2026, 3, 29, 1, 0)


def test_local_to_utc_rejects_the_repeated_autumn_hour() -> None:
    for minute in (0, 30, 59):
        with pytest.raises(Unprocessable) as err:
            local_to_utc(datetime(2026, 10, 25, 2, minute), WAW)
        assert err.value.code == "ambiguous_local_time"
        assert "offset" in str(err.value.detail)
    assert local_to_utc(datetime(2026, 10, 25, 1, 59), WAW) == utc(2026, 10, 24, 23, 59)
    assert local_to_utc(datetime(2026, 10, 25, 3, 0), WAW) == utc(2026, 10, 25, 2, 0)


def test_parse_instant_with_offset_or_z_is_exact() -> None:
    assert parse_instant("2026-10-25T02:30:00+02:00", WAW) == utc(2026, 10, 25, 0, 30)
    assert parse_instant("2026-10-25T02:30:00+01:00", WAW) == utc(2026, 10, 25, 1, 30)
    assert parse_instant("2026-03-29T02:30:00Z", WAW) == utc(2026, 3, 29, 2, 30)
    assert parse_instant("2026-03-29T02:30:00.123456Z", WAW) == utc(2026, 3, 29, 2, 30, 0, 123000)
    assert parse_instant(" 2026-03-29T08:00:00-05:00 ", WAW) == utc(2026, 3, 29, 13, 0)


def test_parse_instant_naive_is_local() -> None:
    assert parse_instant("2026-03-29T08:00:00", WAW) == utc(2026, 3, 29, 6)
    assert parse_instant("2026-03-28T08:00", WAW) == utc(2026, 3, 28, 7)
    with pytest.raises(Unprocessable) as gap:
        parse_instant("2026-03-29T02:30", WAW)
    assert gap.value.code == "nonexistent_local_time"
    with pytest.raises(Unprocessable) as twice:
        parse_instant("2026-10-25T02:30", WAW)
    assert twice.value.code == "ambiguous_local_time"


@pytest.mark.parametrize(
    "value", ["", "yesterday", "2026-13-01T00:00", "2026-02-30T10:00", "10:00", "2026-01-01T25:00"]
)
def test_parse_instant_malformed(value: str) -> None:
    with pytest.raises(Unprocessable) as err:
        parse_instant(value, WAW)
    assert err.value.code == "invalid_datetime"


def test_parse_instant_non_string() -> None:
    with pytest.raises(Unprocessable) as err:
        parse_instant(12345, WAW)  # type: ignore[arg-type]
    assert err.value.code == "invalid_datetime"


def test_local_day_bounds() -> None:
    assert local_day_bounds(date(2026, 1, 10), WAW) == (utc(2026, 1, 9, 23), utc(2026, 1, 10, 23))
    start, end = local_day_bounds(SPRING, WAW)
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert end - start == timedelta(hours=23)
    start, end = local_day_bounds(AUTUMN, WAW)
    assert end - start == timedelta(hours=25)


def test_split_night_shift_over_spring_forward() -> None:
    # 22:00 CET on the 28th to 06:00 CEST on the 29th: 2 h + 5 h of elapsed time.
    start = local_to_utc(datetime(2026, 3, 28, 22), WAW)
    end = local_to_utc(datetime(2026, 3, 29, 6), WAW)
    pieces = split_at_local_midnights(start, end, WAW)
    assert [(d, e - s) for d, s, e in pieces] == [
        (date(2026, 3, 28), timedelta(hours=2)),
        (SPRING, timedelta(hours=5)),
    ]


def test_split_night_shift_over_fall_back() -> None:
    start = local_to_utc(datetime(2026, 10, 24, 22), WAW)
    end = local_to_utc(datetime(2026, 10, 25, 6), WAW)
    pieces = split_at_local_midnights(start, end, WAW)
    assert [(d, e - s) for d, s, e in pieces] == [
        (date(2026, 10, 24), timedelta(hours=2)),
        (AUTUMN, timedelta(hours=7)),
    ]


def test_split_edge_cases() -> None:
    t = utc(2026, 5, 1, 10)
    assert split_at_local_midnights(t, t, WAW) == []
    assert split_at_local_midnights(t, t - timedelta(hours=1), WAW) == []
    many = split_at_local_midnights(utc(2026, 5, 1, 10), utc(2026, 5, 4, 10), WAW)
    assert [d for d, _, _ in many] == [date(2026, 5, d) for d in (1, 2, 3, 4)]
    assert sum((e - s for _, s, e in many), timedelta()) == timedelta(days=3)
    # A piece ending exactly at midnight does not open an empty next day.
    midnight = local_day_bounds(date(2026, 5, 2), WAW)[0]
    assert [d for d, _, _ in split_at_local_midnights(t, midnight, WAW)] == [date(2026, 5, 1)]


def test_wall_clock_to_utc_never_fails() -> None:
    # In the gap: the instant the clocks jump (03:00 CEST).
    assert wall_clock_to_utc(SPRING, time(2, 30), WAW) == utc(2026, 3, 29, 1, 0)
    assert wall_clock_to_utc(SPRING, time(2, 0), WAW) == utc(2026, 3, 29, 1, 0)
    # Repeated: the first occurrence (still CEST).
    assert wall_clock_to_utc(AUTUMN, time(2, 30), WAW) == utc(2026, 10, 25, 0, 30)
    assert wall_clock_to_utc(SPRING, time(22, 0), WAW) == utc(2026, 3, 29, 20, 0)
    assert wall_clock_to_utc(date(2026, 3, 28), time(22, 0), "Europe/Warsaw") == utc(
        2026, 3, 28, 21, 0
    )


def test_wall_clock_to_utc_midnight_gap_zone() -> None:
    # America/Santiago springs forward at local midnight: the day starts at 01:00.
    santiago = get_zone("America/Santiago")
    start, end = local_day_bounds(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).replace(tzinfo=None) == datetime(2026, 9, 6, 1, 0)
    assert end - start == timedelta(hours=23)
