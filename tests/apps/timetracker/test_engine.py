from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basis.apps.timetracker.engine import (
    MISSING_OUT,
    ORPHAN_OUT,
    DailyReport,
    DayRow,
    EventIn,
    Policy,
    ScheduleIn,
    build_intervals,
    daily,
    derive_directions,
    fmt_hms,
    interval_view,
    summarize,
    summary_row,
)
from basis.core.errors import Unprocessable
from basis.core.time import UTC, get_zone, local_day_bounds, local_to_utc

WAW = get_zone("Europe/Warsaw")
LATER = datetime(2027, 1, 1, tzinfo=UTC)
H = 3600
_ids = itertools.count(1)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return local_to_utc(datetime(y, m, d, hh, mm, ss), WAW)


def scan(ts: datetime, direction: str | None = None, source: str | None = None) -> EventIn:
    source = source or ("derived" if direction is None else "device")
    return EventIn(next(_ids), ts, direction, source)  # type: ignore[arg-type]


def work(day: date, start: str, end: str, code: str = "work") -> ScheduleIn:
    return ScheduleIn(day, time.fromisoformat(start), time.fromisoformat(end), code)


def report(
    events: Iterable[EventIn],
    first: date,
    last: date | None = None,
    schedules: Iterable[ScheduleIn] = (),
    policy: Policy | None = None,
    now: datetime = LATER,
) -> DailyReport:
    return daily(list(events), list(schedules), WAW, policy or Policy(), now, first, last or first)


def row(rep: DailyReport, day: date) -> DayRow:
    return next(r for r in rep.days if r.date_local == day)


MON = date(2026, 5, 4)
TUE = date(2026, 5, 5)


# ------------------------------------------------------------------------------ basics


def test_plain_day() -> None:
    events = [scan(at(2026, 5, 4, 8)), scan(at(2026, 5, 4, 16))]
    rep = report(events, MON, schedules=[work(MON, "08:00", "16:00")])
    day = row(rep, MON)
    assert day.worked_seconds == 8 * H and day.worked_minutes == 480
    assert day.worked_hms == "8:00:00" and rep.total_hms == "8:00:00"
    assert (day.first_in_local, day.last_out_local) == ("08:00:00", "16:00:00")
    assert (day.expected_seconds, day.overtime_seconds) == (8 * H, 0)
    assert (day.late_minutes, day.early_exit_minutes, day.absent) == (0, 0, False)
    assert not day.open_shift and not day.auto_closed and day.anomalies == ()


def test_four_undirected_scans_make_two_intervals() -> None:
    events = [scan(at(2026, 5, 4, h, m)) for h, m in [(8, 0), (12, 0), (12, 30), (16, 30)]]
    assert [d for _, d in derive_directions(events, timedelta(hours=16))] == [
        "IN", "OUT", "IN", "OUT"
    ]
    intervals, anomalies = build_intervals(events, [], WAW, Policy(), LATER)
    assert [i.seconds for i in intervals] == [4 * H, 4 * H] and anomalies == []
    assert row(report(events, MON), MON).worked_seconds == 8 * H


def test_every_day_present_and_zero_filled() -> None:
    rep = report([], date(2026, 5, 1), date(2026, 5, 10))
    assert [r.date_local for r in rep.days] == [date(2026, 5, d) for d in range(1, 11)]
    assert all(r.worked_seconds == 0 and r.first_in_local is None for r in rep.days)
    assert rep.total_seconds == 0 and summarize(rep).absent_days == 0


def test_range_must_be_ordered() -> None:
    with pytest.raises(Unprocessable):
        report([], TUE, MON)


def test_fmt_hms() -> None:
    assert fmt_hms(0) == "0:00:00"
    assert fmt_hms(59) == "0:00:59"
    assert fmt_hms(25 * H + 61) == "25:01:01"
    assert fmt_hms(200 * H) == "200:00:00"


# ------------------------------------------------------------------------ missing out (R3)


def forgotten_checkout() -> list[EventIn]:
    # Monday: IN, never out. Tuesday: a plain day of undirected scans.
    return [scan(at(2026, 5, 4, 8)), scan(at(2026, 5, 5, 8)), scan(at(2026, 5, 5, 16))]


def test_forgotten_checkout_is_flagged_and_does_not_flip_later_pairs() -> None:
    schedules = [work(MON, "08:00", "16:00"), work(TUE, "08:00", "16:00")]
    rep = report(forgotten_checkout(), MON, TUE, schedules)
    mon, tue = row(rep, MON), row(rep, TUE)
    assert mon.worked_seconds == 0
    assert [a.code for a in mon.anomalies] == [MISSING_OUT]
    assert mon.anomalies[0].details["auto_closed"] is False
    assert not mon.absent  # the employee scanned in
    assert tue.worked_seconds == 8 * H and tue.first_in_local == "08:00:00"
    assert summary_row(forgotten_checkout(), schedules, WAW, Policy(), LATER, MON, TUE) == (
        summarize(rep)
    )
    assert summarize(rep).missing_out_count == 1


def test_forgotten_checkout_closed_at_schedule_end() -> None:
    policy = Policy(missing_out_policy="schedule_end")
    schedules = [work(MON, "08:00", "16:00"), work(TUE, "08:00", "16:00")]
    rep = report(forgotten_checkout(), MON, TUE, schedules, policy)
    mon = row(rep, MON)
    assert mon.worked_seconds == 8 * H and mon.auto_closed and mon.last_out_local == "16:00:00"
    assert mon.anomalies[0].code == MISSING_OUT and mon.anomalies[0].details["auto_closed"]
    assert not row(rep, TUE).auto_closed
    intervals, _ = build_intervals(forgotten_checkout(), schedules, WAW, policy, LATER)
    closed = intervals[0]
    assert closed.auto_closed and closed.out_utc == at(2026, 5, 4, 16)
    assert closed.out_event_id is None and closed.end_utc == closed.out_utc


def test_schedule_end_without_schedule_falls_back_to_flag() -> None:
    policy = Policy(missing_out_policy="schedule_end")
    rep = report(forgotten_checkout(), MON, TUE, [work(TUE, "08:00", "16:00")], policy)
    assert row(rep, MON).worked_seconds == 0 and not row(rep, MON).auto_closed
    off = [ScheduleIn(MON, None, None, "off")]
    assert row(report(forgotten_checkout(), MON, TUE, off, policy), MON).worked_seconds == 0


def test_in_followed_by_in_within_max_shift() -> None:
    events = [scan(at(2026, 5, 4, 8), "IN"), scan(at(2026, 5, 4, 9), "IN"),
              scan(at(2026, 5, 4, 17), "OUT")]
    rep = report(events, MON)
    day = row(rep, MON)
    assert day.worked_seconds == 8 * H
    assert [(a.code, a.details["reason"]) for a in day.anomalies] == [(MISSING_OUT, "next_in")]
    # schedule_end never closes past the next scan.
    policy = Policy(missing_out_policy="schedule_end")
    rep = report(events, MON, schedules=[work(MON, "08:00", "16:00")], policy=policy)
    assert row(rep, MON).worked_seconds == 8 * H and not row(rep, MON).auto_closed


def test_out_after_max_shift_is_orphan() -> None:
    events = [scan(at(2026, 5, 4, 6), "IN"), scan(at(2026, 5, 4, 23), "OUT")]
    day = row(report(events, MON), MON)
    assert day.worked_seconds == 0
    assert [a.code for a in day.anomalies] == [MISSING_OUT, ORPHAN_OUT]


def test_exactly_max_shift_still_closes() -> None:
    events = [scan(at(2026, 5, 4, 6)), scan(at(2026, 5, 4, 22))]
    assert row(report(events, MON), MON).worked_seconds == 16 * H


def test_orphan_out() -> None:
    events = [scan(at(2026, 5, 4, 16), "OUT")]
    day = row(report(events, MON), MON)
    assert day.worked_seconds == 0
    assert [a.code for a in day.anomalies] == [ORPHAN_OUT]
    assert day.anomalies[0].details == {"event_id": events[0].id}


# -------------------------------------------------------------------------- open shift


def test_open_shift_counts_up_to_now() -> None:
    now = at(2026, 5, 4, 11, 30)
    events = [scan(at(2026, 5, 4, 8))]
    day = row(report(events, MON, now=now), MON)
    assert day.worked_seconds == int(3.5 * H) and day.open_shift and day.last_out_local is None
    intervals, anomalies = build_intervals(events, [], WAW, Policy(), now)
    assert intervals[0].open and intervals[0].out_utc is None and intervals[0].end_utc == now
    assert anomalies == []


def test_open_night_shift_touches_both_days_and_never_invents_midnight() -> None:
    now = at(2026, 5, 5, 2)
    rep = report([scan(at(2026, 5, 4, 22))], MON, TUE, now=now)
    assert [(r.worked_seconds, r.open_shift) for r in rep.days] == [(2 * H, True), (2 * H, True)]
    assert rep.open_shift


def test_in_older_than_max_shift_at_now_is_missing_out() -> None:
    now = at(2026, 5, 5, 1)
    day = row(report([scan(at(2026, 5, 4, 8))], MON, now=now), MON)
    assert day.worked_seconds == 0 and not day.open_shift
    assert [a.code for a in day.anomalies] == [MISSING_OUT]


# --------------------------------------------------------------------- DST night shifts


def test_night_shift_over_spring_forward() -> None:
    sat, sun = date(2026, 3, 28), date(2026, 3, 29)
    events = [scan(at(2026, 3, 28, 22)), scan(at(2026, 3, 29, 6))]
    rep = report(events, sat, sun, [work(sat, "22:00", "06:00")])
    assert [r.worked_seconds for r in rep.days] == [2 * H, 5 * H]
    assert row(rep, sat).expected_seconds == 7 * H
    assert row(rep, sat).overtime_seconds == 0 and row(rep, sun).expected_seconds == 0
    assert row(rep, sun).last_out_local == "06:00:00"


def test_night_shift_over_fall_back() -> None:
    sat, sun = date(2026, 10, 24), date(2026, 10, 25)
    events = [scan(at(2026, 10, 24, 22)), scan(at(2026, 10, 25, 6))]
    rep = report(events, sat, sun, [work(sat, "22:00", "06:00")])
    assert [r.worked_seconds for r in rep.days] == [2 * H, 7 * H]
    assert row(rep, sat).expected_seconds == 9 * H and row(rep, sat).overtime_seconds == 0
    assert row(rep, sun).last_out_local == "06:00:00"


def test_clock_times_on_a_dst_day() -> None:
    sun = date(2026, 10, 25)
    events = [scan(at(2026, 10, 25, 1)), scan(at(2026, 10, 25, 12))]
    day = row(report(events, sun), sun)
    assert (day.first_in_local, day.last_out_local) == ("01:00:00", "12:00:00")
    assert day.worked_seconds == 12 * H


# ------------------------------------------------------------------------ plan vs actual


@pytest.mark.parametrize(
    ("arrive", "leave", "late", "early"),
    [
        ("08:04", "15:56", 0, 0),
        ("08:05", "15:55", 0, 0),
        ("08:06", "15:54", 6, 6),
        ("08:12", "15:50", 12, 10),
        ("07:40", "16:20", 0, 0),
    ],
)
def test_late_and_early_exit_with_grace(arrive: str, leave: str, late: int, early: int) -> None:
    a, b = time.fromisoformat(arrive), time.fromisoformat(leave)
    events = [scan(at(2026, 5, 4, a.hour, a.minute)), scan(at(2026, 5, 4, b.hour, b.minute))]
    day = row(report(events, MON, schedules=[work(MON, "08:00", "16:00")]), MON)
    assert (day.late_minutes, day.early_exit_minutes) == (late, early)


def test_overtime_counts_early_arrival_and_respects_tolerance() -> None:
    events = [scan(at(2026, 5, 4, 7, 30)), scan(at(2026, 5, 4, 16, 40))]
    schedules = [work(MON, "08:00", "16:00")]
    assert row(report(events, MON, schedules=schedules), MON).overtime_seconds == 70 * 60
    tolerant = Policy(overtime_tolerance_minutes=15)
    day = row(report(events, MON, schedules=schedules, policy=tolerant), MON)
    assert day.overtime_seconds == 55 * 60
    short = [scan(at(2026, 5, 4, 8)), scan(at(2026, 5, 4, 12))]
    assert row(report(short, MON, schedules=schedules), MON).overtime_seconds == 0


def test_plan_compares_the_whole_night_shift_on_its_own_day() -> None:
    events = [scan(at(2026, 5, 4, 21, 50)), scan(at(2026, 5, 5, 6, 20))]
    rep = report(events, MON, TUE, [work(MON, "22:00", "06:00"), work(TUE, "22:00", "06:00")],
                 now=at(2026, 5, 6, 12))
    mon, tue = row(rep, MON), row(rep, TUE)
    assert (mon.worked_seconds, tue.worked_seconds) == (2 * H + 600, 6 * H + 1200)
    assert mon.expected_seconds == 8 * H and mon.overtime_seconds == 30 * 60
    assert mon.late_minutes == 0 and mon.early_exit_minutes == 0 and not mon.absent
    assert tue.absent and tue.overtime_seconds == 0  # Tuesday's own night shift was missed


def test_lunch_break_interval_belongs_to_the_shift() -> None:
    events = [scan(at(2026, 5, 4, h, m)) for h, m in [(8, 0), (12, 0), (12, 30), (16, 30)]]
    day = row(report(events, MON, schedules=[work(MON, "08:00", "16:00")]), MON)
    assert day.overtime_seconds == 0 and day.early_exit_minutes == 0 and day.late_minutes == 0
    assert day.worked_seconds == 8 * H


def test_check_in_window_decides_which_shift_an_in_belongs_to() -> None:
    schedules = [work(MON, "08:00", "16:00")]
    early = [scan(at(2026, 5, 4, 6, 30)), scan(at(2026, 5, 4, 16))]
    day = row(report(early, MON, schedules=schedules), MON)
    assert day.overtime_seconds == 90 * 60 and not day.absent
    too_early = [scan(at(2026, 5, 4, 5, 30)), scan(at(2026, 5, 4, 16))]
    day = row(report(too_early, MON, schedules=schedules), MON)
    assert day.worked_seconds == 10 * H + 30 * 60  # worked time counts regardless
    assert day.absent and day.overtime_seconds == 0
    wide = Policy(check_in_window_minutes=180)
    assert not row(report(too_early, MON, schedules=schedules, policy=wide), MON).absent


def test_back_to_back_shifts_take_the_nearest_start() -> None:
    schedules = [work(MON, "22:00", "06:00"), work(TUE, "06:00", "14:00")]
    events = [scan(at(2026, 5, 4, 22)), scan(at(2026, 5, 5, 5, 30)),
              scan(at(2026, 5, 5, 5, 45)), scan(at(2026, 5, 5, 14))]
    rep = report(events, MON, TUE, schedules)
    assert row(rep, MON).early_exit_minutes == 30 and row(rep, MON).overtime_seconds == 0
    assert row(rep, TUE).overtime_seconds == 15 * 60 and row(rep, TUE).late_minutes == 0


def test_early_exit_only_once_the_shift_is_over() -> None:
    events = [scan(at(2026, 5, 4, 8)), scan(at(2026, 5, 4, 12))]
    schedules = [work(MON, "08:00", "16:00")]
    during = row(report(events, MON, schedules=schedules, now=at(2026, 5, 4, 12, 10)), MON)
    assert during.early_exit_minutes == 0
    after = row(report(events, MON, schedules=schedules, now=at(2026, 5, 4, 17)), MON)
    assert after.early_exit_minutes == 240


def test_absences() -> None:
    days = [date(2026, 5, d) for d in range(4, 10)]
    schedules = [work(days[0], "08:00", "16:00"), work(days[1], "08:00", "16:00"),
                 ScheduleIn(days[2], None, None, "off"), ScheduleIn(days[3], None, None, "sick"),
                 ScheduleIn(days[4], None, None, "vacation"),
                 ScheduleIn(days[5], None, None, "holiday")]
    now = at(2026, 5, 5, 12)  # Tuesday's shift still running
    rep = report([], days[0], days[-1], schedules, now=now)
    assert [r.absent for r in rep.days] == [True, False, False, False, False, False]
    assert [r.schedule_code for r in rep.days] == [
        "work", "work", "off", "sick", "vacation", "holiday"
    ]
    assert row(rep, days[0]).expected_seconds == 8 * H
    assert summarize(rep).absent_days == 1
    later = report([], days[0], days[-1], schedules, now=LATER)
    assert summarize(later).absent_days == 2
    assert summarize(later).expected_seconds == 16 * H


def test_work_day_without_hours() -> None:
    schedules = [ScheduleIn(MON, None, None, "work"), ScheduleIn(TUE, None, None, "work")]
    events = [scan(at(2026, 5, 5, 9)), scan(at(2026, 5, 5, 10))]
    rep = report(events, MON, TUE, schedules)
    assert [(r.absent, r.expected_seconds) for r in rep.days] == [(True, 0), (False, 0)]


# ------------------------------------------------------------------- late insert (R2)


def test_late_insert_recomputes_derived_directions() -> None:
    stamps = [at(2026, 5, 4, h) for h in (8, 12, 13, 17)]
    stored = [EventIn(i + 1, ts, d, "derived")
              for i, (ts, d) in enumerate(zip(stamps, ["IN", "OUT", "IN", "OUT"], strict=True))]
    late = EventIn(99, at(2026, 5, 4, 10), "OUT", "manual")
    recomputed = dict(derive_directions([*stored, late], timedelta(hours=16)))
    assert recomputed == {1: "IN", 99: "OUT", 2: "IN", 3: "OUT", 4: "IN"}
    # A device direction is never rewritten.
    device = [EventIn(1, stamps[0], "IN", "device"), EventIn(2, stamps[1], "IN", "device")]
    assert dict(derive_directions(device, timedelta(hours=16))) == {1: "IN", 2: "IN"}
    # The engine recomputes stored derived directions inside the range by itself.
    day = row(report([*stored, late], MON, now=at(2026, 5, 4, 18)), MON)
    assert day.worked_seconds == 2 * H + 1 * H + 1 * H and day.open_shift


def test_stored_directions_before_the_range_anchor_a_cut_chain() -> None:
    # A chain of undirected scans with short gaps: the window the caller loads cuts it.
    stamps = [at(2026, 5, 3, 6), at(2026, 5, 3, 14), at(2026, 5, 3, 22), at(2026, 5, 4, 8),
              at(2026, 5, 4, 9), at(2026, 5, 4, 17)]
    plain = [EventIn(i + 1, ts, None, "derived") for i, ts in enumerate(stamps)]
    stored = [EventIn(e.id, e.ts, d, "derived")
              for e, (_, d) in zip(plain, derive_directions(plain, timedelta(hours=16)), strict=True)]
    full = report(stored, MON)
    window_start = local_day_bounds(MON, WAW)[0] - timedelta(hours=16)
    windowed = report([e for e in stored if e.ts >= window_start], MON)
    assert full == windowed
    assert row(full, MON).worked_seconds == 8 * H + 8 * H  # 00:00-08:00 and 09:00-17:00
    # Re-deriving the cut chain from scratch would have flipped every pair.
    cut = [EventIn(e.id, e.ts, None, "derived") for e in stored if e.ts >= window_start]
    assert dict(derive_directions(cut, timedelta(hours=16)))[2] == "IN"


def test_in_before_the_range_closes_after_midnight() -> None:
    events = [scan(at(2026, 5, 3, 22)), scan(at(2026, 5, 4, 6))]
    rep = report(events, MON, TUE)
    assert row(rep, MON).worked_seconds == 6 * H and rep.total_seconds == 6 * H
    assert row(rep, MON).first_in_local is None and row(rep, MON).last_out_local == "06:00:00"


# -------------------------------------------------------------------- weeks and months


def test_weeks_and_months_clipped_and_zero_filled() -> None:
    events = [scan(at(2026, 3, 30, 8)), scan(at(2026, 3, 30, 9)),
              scan(at(2026, 4, 7, 8)), scan(at(2026, 4, 7, 10))]
    rep = report(events, date(2026, 3, 25), date(2026, 4, 14))
    assert [(w.week_start, w.week_end, w.worked_seconds) for w in rep.weeks] == [
        (date(2026, 3, 25), date(2026, 3, 29), 0),
        (date(2026, 3, 30), date(2026, 4, 5), H),
        (date(2026, 4, 6), date(2026, 4, 12), 2 * H),
        (date(2026, 4, 13), date(2026, 4, 14), 0),
    ]
    assert [(m.month, m.start, m.end, m.worked_seconds) for m in rep.months] == [
        ("2026-03", date(2026, 3, 25), date(2026, 3, 31), H),
        ("2026-04", date(2026, 4, 1), date(2026, 4, 14), 2 * H),
    ]
    assert rep.weeks[1].worked_hms == "1:00:00" and rep.total_seconds == 3 * H


def test_iso_week_over_new_year() -> None:
    rep = report([], date(2026, 12, 28), date(2027, 1, 5))
    assert [(w.week_start, w.week_end) for w in rep.weeks] == [
        (date(2026, 12, 28), date(2027, 1, 3)), (date(2027, 1, 4), date(2027, 1, 5))
    ]
    assert [m.month for m in rep.months] == ["2026-12", "2027-01"]


# ----------------------------------------------------------------------- interval view


def test_interval_view_clips_to_the_range() -> None:
    events = [scan(at(2026, 5, 3, 22)), scan(at(2026, 5, 4, 6)), scan(at(2026, 5, 4, 22)),
              scan(at(2026, 5, 5, 6)), scan(at(2026, 5, 6, 9), "OUT")]
    start, end = local_day_bounds(MON, WAW)
    view = interval_view(events, [], WAW, Policy(), LATER, start, end)
    assert [(i.in_utc, i.seconds) for i in view.intervals] == [
        (at(2026, 5, 3, 22), 6 * H), (at(2026, 5, 4, 22), 2 * H)
    ]
    assert view.total_seconds == report(events, MON).total_seconds
    assert view.anomalies == () and not view.open_shift


# ------------------------------------------------------------------ property tests

BASE = datetime(2026, 3, 20, tzinfo=UTC)  # covers the spring-forward night in Warsaw
SPAN_DAYS = 18
FIRST = date(2026, 3, 21)
LAST = date(2026, 4, 4)

PAIRS = [("IN", "device"), ("OUT", "device"), ("IN", "manual"), ("OUT", "manual"),
         (None, "derived"), (None, "derived"), (None, "derived")]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[EventIn], list[ScheduleIn], Policy, datetime]:
    count = draw(st.integers(0, 40))
    stamps = draw(st.lists(st.integers(0, SPAN_DAYS * 86_400_000), min_size=count,
                           max_size=count))
    kinds = draw(st.lists(st.sampled_from(PAIRS), min_size=count, max_size=count))
    # Scans never come from the future (the server refuses skew beyond 2 minutes).
    now = BASE + timedelta(minutes=draw(st.integers(6 * 1440, (SPAN_DAYS + 2) * 1440)))
    plain = [EventIn(i + 1, BASE + timedelta(milliseconds=ms), d, s)  # type: ignore[arg-type]
             for i, (ms, (d, s)) in enumerate(zip(stamps, kinds, strict=True))
             if BASE + timedelta(milliseconds=ms) <= now]
    policy = Policy(
        max_shift=timedelta(hours=draw(st.sampled_from([8, 12, 16]))),
        missing_out_policy=draw(st.sampled_from(["flag", "schedule_end"])),
        overtime_tolerance_minutes=draw(st.sampled_from([0, 10])),
    )
    # Stored derived directions as the service keeps them: derived over all events.
    derived = dict(derive_directions(plain, policy.max_shift))
    events = [EventIn(e.id, e.ts, derived[e.id], e.source) if e.source == "derived" else e
              for e in plain]
    schedules: list[ScheduleIn] = []
    for offset in range(SPAN_DAYS):
        day = BASE.date() + timedelta(days=offset)
        kind = draw(st.sampled_from(["none", "work", "work", "night", "off", "sick"]))
        if kind in ("work", "night"):
            start = draw(st.integers(0, 47)) * 30 if kind == "work" else 22 * 60
            length = draw(st.integers(2, 12)) * 60
            end = (start + length) % (24 * 60)
            schedules.append(ScheduleIn(day, time(start // 60, start % 60),
                                        time(end // 60, end % 60), "work"))
        elif kind != "none":
            schedules.append(ScheduleIn(day, None, None, kind))
    return events, schedules, policy, now


PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def run(case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime], first: date = FIRST,
        last: date = LAST) -> DailyReport:
    events, schedules, policy, now = case
    return daily(events, schedules, WAW, policy, now, first, last)


@PROPERTY
@given(scenarios())
def test_property_totals_agree(case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime]) -> None:
    rep = run(case)
    days = sum(r.worked_seconds for r in rep.days)
    assert rep.total_seconds == days == sum(w.worked_seconds for w in rep.weeks)
    assert days == sum(m.worked_seconds for m in rep.months)
    events, schedules, policy, now = case
    assert summary_row(events, schedules, WAW, policy, now, FIRST, LAST) == summarize(rep)
    assert summarize(rep).worked_seconds == rep.total_seconds
    start, _ = local_day_bounds(FIRST, WAW)
    _, end = local_day_bounds(LAST, WAW)
    view = interval_view(events, schedules, WAW, policy, now, start, end)
    assert view.total_seconds == rep.total_seconds


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_property_input_order_never_matters(
    case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime], rnd: random.Random
) -> None:
    events, schedules, policy, now = case
    shuffled_events, shuffled_schedules = list(events), list(schedules)
    rnd.shuffle(shuffled_events)
    rnd.shuffle(shuffled_schedules)
    assert run((shuffled_events, shuffled_schedules, policy, now)) == run(case)
    assert build_intervals(shuffled_events, schedules, WAW, policy, now) == build_intervals(
        events, schedules, WAW, policy, now
    )


def windowed(case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime], first: date,
             last: date, extra: timedelta) -> DailyReport:
    """What the service does: load only the events and schedules the engine needs."""
    events, schedules, policy, now = case
    start = local_day_bounds(first, WAW)[0] - policy.max_shift
    end = local_day_bounds(last, WAW)[1] + policy.max_shift + extra
    loaded = [e for e in events if start <= e.ts <= end]
    cells = [s for s in schedules if first - timedelta(days=1) <= s.day <= last + timedelta(days=1)]
    return daily(loaded, cells, WAW, policy, now, first, last)


@PROPERTY
@given(scenarios(), st.integers(1, (LAST - FIRST).days))
def test_property_splitting_a_range_changes_nothing(
    case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime], cut: int
) -> None:
    whole = run(case)
    middle = FIRST + timedelta(days=cut)
    left = windowed(case, FIRST, middle - timedelta(days=1), timedelta(days=1))
    right = windowed(case, middle, LAST, timedelta(days=1))
    assert left.days + right.days == whole.days
    assert left.total_seconds + right.total_seconds == whole.total_seconds
    assert summarize(left).missing_out_count + summarize(right).missing_out_count == (
        summarize(whole).missing_out_count
    )
    # With exactly [range_start - max_shift, range_end + max_shift], worked time is exact too.
    short = windowed(case, middle, LAST, timedelta(0))
    assert [r.worked_seconds for r in short.days] == [r.worked_seconds for r in right.days]
    assert [r.anomalies for r in short.days] == [r.anomalies for r in right.days]


@PROPERTY
@given(scenarios())
def test_property_a_day_never_holds_more_than_its_length(
    case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime]
) -> None:
    for r in run(case).days:
        start, end = local_day_bounds(r.date_local, WAW)
        assert 0 <= r.worked_seconds <= (end - start).total_seconds()
        assert r.overtime_seconds >= 0 and r.late_minutes >= 0 and r.early_exit_minutes >= 0


@PROPERTY
@given(scenarios())
def test_property_intervals_are_disjoint_and_ordered(
    case: tuple[list[EventIn], list[ScheduleIn], Policy, datetime]
) -> None:
    events, schedules, policy, now = case
    intervals, _ = build_intervals(events, schedules, WAW, policy, now)
    for a, b in itertools.pairwise(intervals):
        assert a.end_utc <= b.in_utc
    for i in intervals:
        assert i.in_utc <= i.end_utc
        assert i.end_utc - i.in_utc <= policy.max_shift
        assert (i.out_utc is None) == i.open

