"""Worked-hours engine: scans -> intervals -> daily, weekly, monthly figures and plan vs actual.

Pure functions over plain values (rules R1-R3, R9, R10 of docs/design/timetracker.md).

Input window: for a report over local dates [from_date, to_date] (UTC bounds range_start,
range_end) the caller passes the employee's events with ts in
[range_start - max_shift, range_end + max_shift] and the schedules of
[from_date - 1, to_date + 1]. Given that, worked time, intervals and anomalies of the range are
exact:
- an interval touching the range has its IN at most max_shift before range_start and its OUT
  at most max_shift after its IN, so both ends are inside the window; a MISSING_OUT decision
  only looks max_shift past the IN;
- a derived direction depends on every earlier scan of an unbroken chain, which the window
  cuts. So derived events before range_start keep the direction the service stored (it
  recomputes them after every late insert) and only those from range_start on are recomputed;
  the lead-in thus gives the exact open/closed state at range_start;
- shift membership and auto-close need the neighbouring days' schedules.
Plan vs actual of a shift on to_date looks at the whole shift, which may run into the next day:
extending the event window to range_end + max_shift + 1 day makes those figures exact too
(shifts up to 24 h elapsed); with the shorter window only a last-day shift whose intervals
run on past range_end + max_shift could differ.

Durations are whole seconds: each instant is floored to its second before subtracting, so
intervals, days, weeks, months and totals are integers that add up exactly (R10).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from basis.core.errors import Unprocessable
from basis.core.time import EPOCH, UTC, ZoneLike, get_zone, wall_clock_to_utc

Direction = Literal["IN", "OUT"]
Source = Literal["device", "derived", "manual"]
MissingOutPolicy = Literal["flag", "schedule_end"]

MISSING_OUT = "MISSING_OUT"
ORPHAN_OUT = "ORPHAN_OUT"
WORK = "work"

_MS = timedelta(milliseconds=1)
_ONE_DAY = timedelta(days=1)
_DEFAULT_MAX_SHIFT = timedelta(hours=16)
# Longest elapsed span of one schedule cell: end == start is 24 h of wall clock, 25 h over DST.
_MAX_SCHEDULE_SPAN_MS = 26 * 3_600_000


# ---------------------------------------------------------------------------------- inputs


# Inputs are named tuples: a payroll month builds a hundred thousand of them, and a tuple is
# made several times faster than a frozen dataclass.
class EventIn(NamedTuple):
    id: int
    ts: datetime
    direction: Direction | None
    source: Source = "device"


class ScheduleIn(NamedTuple):
    day: date
    start: time | None
    end: time | None
    code: str = WORK


@dataclass(frozen=True, slots=True)
class Policy:
    max_shift: timedelta = _DEFAULT_MAX_SHIFT
    missing_out_policy: MissingOutPolicy = "flag"
    late_grace_minutes: int = 5
    early_exit_grace_minutes: int = 5
    overtime_tolerance_minutes: int = 0
    check_in_window_minutes: int = 120

    @property
    def max_shift_ms(self) -> int:
        return self.max_shift // _MS


# --------------------------------------------------------------------------------- outputs


class Interval(NamedTuple):
    in_utc: datetime
    out_utc: datetime | None  # None while open; the auto-close instant when auto_closed
    end_utc: datetime  # effective end: the OUT, the auto-close or now
    seconds: int
    auto_closed: bool
    open: bool
    in_event_id: int
    out_event_id: int | None
    in_ms: int = 0
    end_ms: int = 0


@dataclass(frozen=True, slots=True)
class Anomaly:
    code: str
    ts_utc: datetime
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DayRow:
    date_local: date
    worked_seconds: int
    first_in_local: str | None
    last_out_local: str | None
    open_shift: bool
    auto_closed: bool
    schedule_code: str | None
    expected_seconds: int
    overtime_seconds: int
    late_minutes: int
    early_exit_minutes: int
    absent: bool
    anomalies: tuple[Anomaly, ...]

    @property
    def worked_minutes(self) -> int:
        return self.worked_seconds // 60

    @property
    def worked_hms(self) -> str:
        return fmt_hms(self.worked_seconds)


@dataclass(frozen=True, slots=True)
class WeekRow:
    week_start: date
    week_end: date
    worked_seconds: int

    @property
    def worked_hms(self) -> str:
        return fmt_hms(self.worked_seconds)


@dataclass(frozen=True, slots=True)
class MonthRow:
    month: str
    start: date
    end: date
    worked_seconds: int

    @property
    def worked_hms(self) -> str:
        return fmt_hms(self.worked_seconds)


@dataclass(frozen=True, slots=True)
class DailyReport:
    from_date: date
    to_date: date
    days: tuple[DayRow, ...]
    weeks: tuple[WeekRow, ...]
    months: tuple[MonthRow, ...]
    total_seconds: int
    open_shift: bool

    @property
    def total_hms(self) -> str:
        return fmt_hms(self.total_seconds)


@dataclass(frozen=True, slots=True)
class SummaryRow:
    worked_seconds: int
    expected_seconds: int
    overtime_seconds: int
    missing_out_count: int
    absent_days: int


@dataclass(frozen=True, slots=True)
class IntervalView:
    intervals: tuple[Interval, ...]
    anomalies: tuple[Anomaly, ...]
    total_seconds: int
    open_shift: bool


def fmt_hms(seconds: int) -> str:
    sign = "-" if seconds < 0 else ""
    minutes, secs = divmod(abs(int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


# ---------------------------------------------------------------------- directions (R2)


def _ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - EPOCH) // _MS


def _dt(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _ordered(events: Iterable[EventIn]) -> list[tuple[int, EventIn]]:
    return sorted(((_ms(e.ts), e) for e in events), key=lambda pair: (pair[0], pair[1].id))


def _directions(
    ordered: Sequence[tuple[int, EventIn]], max_shift_ms: int, trust_before_ms: int | None
) -> list[Direction]:
    directions: list[Direction] = []
    open_in_ms: int | None = None
    for ms, event in ordered:
        direction = event.direction
        if event.source == "derived" and (trust_before_ms is None or ms >= trust_before_ms):
            direction = None
        if direction is None:
            closes = open_in_ms is not None and ms - open_in_ms <= max_shift_ms
            direction = "OUT" if closes else "IN"
        open_in_ms = ms if direction == "IN" else None
        directions.append(direction)
    return directions


def derive_directions(
    events: Iterable[EventIn],
    max_shift: timedelta,
    *,
    trust_stored_before: datetime | None = None,
) -> list[tuple[int, Direction]]:
    """Directions in ts order (ties by id). Device and manual directions stay; a derived or
    undirected scan is OUT when it closes an open IN at most max_shift old, else IN.

    Derived events before `trust_stored_before` keep their stored direction: pass the start of
    the window you loaded so a cut-off chain of scans is not re-derived without its context.
    """
    ordered = _ordered(events)
    trust = None if trust_stored_before is None else _ms(trust_stored_before)
    directions = _directions(ordered, max_shift // _MS, trust)
    return [(event.id, direction) for (_, event), direction in zip(ordered, directions, strict=True)]


# ---------------------------------------------------------------------------- shifts


@dataclass(frozen=True, slots=True)
class _Shift:
    day: date
    start_ms: int
    end_ms: int


@lru_cache(maxsize=65536)
def _resolve_shift(day: date, start: time, end: time, tz: ZoneInfo) -> _Shift:
    end_day = day + _ONE_DAY if end <= start else day
    start_utc = wall_clock_to_utc(day, start, tz)
    end_utc = wall_clock_to_utc(end_day, end, tz)
    return _Shift(day, _ms(start_utc), _ms(end_utc))


class _Shifts:
    """Work shifts sorted by start, and which shift an IN at some instant belongs to."""

    __slots__ = ("by_day", "shifts", "starts", "window_ms")

    def __init__(self, schedules: Iterable[ScheduleIn], tz: ZoneInfo, window_ms: int) -> None:
        by_day: dict[date, _Shift] = {}
        for cell in schedules:
            if _code(cell) == WORK and cell.start is not None and cell.end is not None:
                by_day[cell.day] = _resolve_shift(cell.day, cell.start, cell.end, tz)
            else:
                by_day.pop(cell.day, None)
        self.by_day = by_day
        self.shifts = sorted(by_day.values(), key=lambda s: s.start_ms)
        self.starts = [s.start_ms for s in self.shifts]
        self.window_ms = window_ms

    def of(self, in_ms: int) -> _Shift | None:
        """The shift whose [start - check-in window, end) holds the IN; the nearest start wins
        when two overlap (an IN at 05:00 between a 22:00-06:00 and an 06:00 shift is the
        arrival for the second)."""
        best: _Shift | None = None
        j = bisect_right(self.starts, in_ms + self.window_ms) - 1
        while j >= 0 and self.starts[j] > in_ms - _MAX_SCHEDULE_SPAN_MS:
            shift = self.shifts[j]
            if in_ms < shift.end_ms and (
                best is None or abs(in_ms - shift.start_ms) <= abs(in_ms - best.start_ms)
            ):
                best = shift
            j -= 1
        return best


def _code(cell: ScheduleIn) -> str:
    return cell.code.strip().lower()


# ------------------------------------------------------------------------- intervals (R3)


def _closed(in_ms: int, ev_in: EventIn, out_ms: int, ev_out: EventIn) -> Interval:
    # Positional: the commonest interval, built once per pair of every report.
    return Interval(
        ev_in.ts,
        ev_out.ts,
        ev_out.ts,
        out_ms // 1000 - in_ms // 1000,
        False,
        False,
        ev_in.id,
        ev_out.id,
        in_ms,
        out_ms,
    )


def _open(in_ms: int, ev_in: EventIn, now_ms: int, now: datetime) -> Interval:
    end_ms = max(in_ms, now_ms)
    return Interval(
        in_utc=ev_in.ts,
        out_utc=None,
        end_utc=now if end_ms == now_ms else ev_in.ts,
        seconds=end_ms // 1000 - in_ms // 1000,
        auto_closed=False,
        open=True,
        in_event_id=ev_in.id,
        out_event_id=None,
        in_ms=in_ms,
        end_ms=end_ms,
    )


def _auto_closed(in_ms: int, ev_in: EventIn, end_ms: int) -> Interval:
    end = _dt(end_ms)
    return Interval(
        in_utc=ev_in.ts,
        out_utc=end,
        end_utc=end,
        seconds=end_ms // 1000 - in_ms // 1000,
        auto_closed=True,
        open=False,
        in_event_id=ev_in.id,
        out_event_id=None,
        in_ms=in_ms,
        end_ms=end_ms,
    )


class _Pairing:
    __slots__ = ("anomalies", "intervals", "max_ms", "policy", "shifts")

    def __init__(self, policy: Policy, shifts: _Shifts) -> None:
        self.policy = policy
        self.shifts = shifts
        self.max_ms = policy.max_shift_ms
        self.intervals: list[Interval] = []
        self.anomalies: list[Anomaly] = []

    def missing_out(self, in_ms: int, ev_in: EventIn, limit_ms: int | None, reason: str) -> None:
        end_ms = self._auto_close_at(in_ms, limit_ms)
        details: dict[str, Any] = {"event_id": ev_in.id, "reason": reason, "auto_closed": end_ms is not None}
        if end_ms is not None:
            self.intervals.append(_auto_closed(in_ms, ev_in, end_ms))
            details["closed_at"] = _dt(end_ms).isoformat()
        self.anomalies.append(Anomaly(MISSING_OUT, ev_in.ts, details))

    def _auto_close_at(self, in_ms: int, limit_ms: int | None) -> int | None:
        if self.policy.missing_out_policy != "schedule_end":
            return None
        shift = self.shifts.of(in_ms)
        if shift is None or not in_ms < shift.end_ms <= in_ms + self.max_ms:
            return None  # no schedule that day: the flag policy applies
        if limit_ms is not None and shift.end_ms > limit_ms:
            return None  # closing there would overlap the next scan
        return shift.end_ms

    def orphan_out(self, ev_out: EventIn) -> None:
        self.anomalies.append(Anomaly(ORPHAN_OUT, ev_out.ts, {"event_id": ev_out.id}))


def _pair(
    ordered: Sequence[tuple[int, EventIn]],
    directions: Sequence[Direction],
    pairing: _Pairing,
    now: datetime,
) -> None:
    max_ms = pairing.max_ms
    open_in: tuple[int, EventIn] | None = None
    for (ms, event), direction in zip(ordered, directions, strict=True):
        if open_in is not None:
            in_ms, ev_in = open_in
            within = ms - in_ms <= max_ms
            if direction == "OUT" and within:
                pairing.intervals.append(_closed(in_ms, ev_in, ms, event))
                open_in = None
                continue
            pairing.missing_out(in_ms, ev_in, ms, "next_in" if within else "max_shift")
            open_in = None
        if direction == "IN":
            open_in = (ms, event)
        else:
            pairing.orphan_out(event)
    if open_in is not None:
        in_ms, ev_in = open_in
        now_ms = _ms(now)
        if now_ms - in_ms <= max_ms:
            pairing.intervals.append(_open(in_ms, ev_in, now_ms, now))
        else:
            pairing.missing_out(in_ms, ev_in, None, "max_shift")


def _build(
    events: Iterable[EventIn],
    shifts: _Shifts,
    policy: Policy,
    now: datetime,
    trust_before_ms: int | None,
) -> tuple[list[Interval], list[Anomaly]]:
    ordered = _ordered(events)
    directions = _directions(ordered, policy.max_shift_ms, trust_before_ms)
    pairing = _Pairing(policy, shifts)
    _pair(ordered, directions, pairing, now)
    pairing.intervals.sort(key=lambda i: i.in_ms)
    pairing.anomalies.sort(key=lambda a: (a.ts_utc, a.details["event_id"]))
    return pairing.intervals, pairing.anomalies


def build_intervals(
    events: Iterable[EventIn],
    schedules: Iterable[ScheduleIn],
    zone: ZoneLike,
    policy: Policy,
    now: datetime,
    *,
    trust_stored_before: datetime | None = None,
) -> tuple[list[Interval], list[Anomaly]]:
    """IN->OUT intervals in ts order, with MISSING_OUT / ORPHAN_OUT anomalies (R2, R3)."""
    shifts = _Shifts(schedules, get_zone(zone), policy.check_in_window_minutes * 60_000)
    trust = None if trust_stored_before is None else _ms(trust_stored_before)
    return _build(events, shifts, policy, now, trust)


def interval_view(
    events: Iterable[EventIn],
    schedules: Iterable[ScheduleIn],
    zone: ZoneLike,
    policy: Policy,
    now: datetime,
    range_start: datetime,
    range_end: datetime,
) -> IntervalView:
    """Intervals touching [range_start, range_end), seconds clipped to it, and its anomalies."""
    start_ms, end_ms = _ms(range_start), _ms(range_end)
    intervals, anomalies = build_intervals(
        events, schedules, zone, policy, now, trust_stored_before=range_start
    )
    start_s, end_s = start_ms // 1000, end_ms // 1000
    clipped: list[Interval] = []
    for interval in intervals:
        if _touches(interval, start_ms, end_ms):
            seconds = min(interval.end_ms // 1000, end_s) - max(interval.in_ms // 1000, start_s)
            clipped.append(interval._replace(seconds=max(seconds, 0)))
    in_range = tuple(a for a in anomalies if start_ms <= _ms(a.ts_utc) < end_ms)
    return IntervalView(
        intervals=tuple(clipped),
        anomalies=in_range,
        total_seconds=sum(i.seconds for i in clipped),
        open_shift=any(i.open for i in clipped),
    )


def _touches(interval: Interval, lo_ms: int, hi_ms: int) -> bool:
    if interval.in_ms == interval.end_ms:  # an open shift that began just now
        return lo_ms <= interval.in_ms < hi_ms
    return interval.in_ms < hi_ms and interval.end_ms > lo_ms


# ------------------------------------------------------------------------ calendar grid


@dataclass(frozen=True, slots=True)
class _Grid:
    dates: tuple[date, ...]
    bounds_s: tuple[int, ...]  # len(dates) + 1 UTC day starts, epoch seconds
    plain: tuple[bool, ...]  # no offset change inside the day: local clock = time since start
    weeks: tuple[tuple[date, date, int, int], ...]  # (start, end, first index, last index + 1)
    months: tuple[tuple[str, date, date, int, int], ...]


@lru_cache(maxsize=1024)
def _grid(from_date: date, to_date: date, tz: ZoneInfo) -> _Grid:
    count = (to_date - from_date).days + 1
    dates = tuple(from_date + timedelta(days=i) for i in range(count))
    starts = [wall_clock_to_utc(from_date + timedelta(days=i), time(0), tz) for i in range(count + 1)]
    bounds_s = tuple(_ms(s) // 1000 for s in starts)
    plain = tuple(
        bounds_s[i + 1] - bounds_s[i] == 86_400
        and starts[i].astimezone(tz).utcoffset() == (starts[i + 1] - _MS).astimezone(tz).utcoffset()
        for i in range(count)
    )
    return _Grid(dates, bounds_s, plain, _groups(dates, _week_key), _month_groups(dates))


def _week_key(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def _groups(dates: Sequence[date], key: Any) -> tuple[tuple[date, date, int, int], ...]:
    groups: list[tuple[date, date, int, int]] = []
    first = 0
    for i in range(1, len(dates) + 1):
        if i == len(dates) or key(dates[i]) != key(dates[first]):
            groups.append((dates[first], dates[i - 1], first, i))
            first = i
    return tuple(groups)


def _month_groups(dates: Sequence[date]) -> tuple[tuple[str, date, date, int, int], ...]:
    return tuple(
        (f"{start.year:04d}-{start.month:02d}", start, end, lo, hi)
        for start, end, lo, hi in _groups(dates, lambda d: (d.year, d.month))
    )


def _clock(ms: int, day_index: int, grid: _Grid, tz: ZoneInfo) -> str:
    if grid.plain[day_index]:
        seconds = ms // 1000 - grid.bounds_s[day_index]
        hours, rest = divmod(seconds, 3600)
        return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return _dt(ms).astimezone(tz).strftime("%H:%M:%S")


# ------------------------------------------------------------------------------ daily


class _Days:
    """Per-day accumulators over the grid."""

    __slots__ = ("anomalies", "auto", "first_in", "grid", "last_out", "open", "worked")

    def __init__(self, grid: _Grid) -> None:
        n = len(grid.dates)
        self.grid = grid
        self.worked = [0] * n
        self.first_in: list[int | None] = [None] * n
        self.last_out: list[int | None] = [None] * n
        self.open = [False] * n
        self.auto = [False] * n
        self.anomalies: list[list[Anomaly]] = [[] for _ in range(n)]

    def index(self, ms: int) -> int | None:
        bounds = self.grid.bounds_s
        i = bisect_right(bounds, ms // 1000) - 1
        return i if 0 <= i < len(self.worked) else None

    def add_interval(self, interval: Interval) -> None:
        # R1: split at the employee's local midnights.
        bounds, n = self.grid.bounds_s, len(self.worked)
        in_s, end_s = interval.in_ms // 1000, interval.end_ms // 1000
        first = bisect_right(bounds, in_s) - 1
        if 0 <= first < n and end_s < bounds[first + 1]:
            self._add_within_day(first, interval, end_s - in_s)
            return
        i = max(first, 0)
        while i < n:
            lo, hi = bounds[i], bounds[i + 1]
            if not ((in_s < hi and end_s > lo) or lo <= in_s == end_s < hi):
                break
            self.worked[i] += min(end_s, hi) - max(in_s, lo)
            self.open[i] = self.open[i] or interval.open
            self.auto[i] = self.auto[i] or interval.auto_closed
            i += 1
        if 0 <= first < n:
            known = self.first_in[first]
            if known is None or interval.in_ms < known:
                self.first_in[first] = interval.in_ms
        if not interval.open:
            last = bisect_right(bounds, end_s) - 1
            if 0 <= last < n:
                known = self.last_out[last]
                if known is None or interval.end_ms > known:
                    self.last_out[last] = interval.end_ms

    def _add_within_day(self, i: int, interval: Interval, seconds: int) -> None:
        """``add_interval`` for the usual interval, begun and ended on local day ``i``."""
        self.worked[i] += seconds
        if interval.open:
            self.open[i] = True
        if interval.auto_closed:
            self.auto[i] = True
        known = self.first_in[i]
        if known is None or interval.in_ms < known:
            self.first_in[i] = interval.in_ms
        if not interval.open:
            known = self.last_out[i]
            if known is None or interval.end_ms > known:
                self.last_out[i] = interval.end_ms

    def add_anomaly(self, anomaly: Anomaly) -> None:
        i = self.index(_ms(anomaly.ts_utc))
        if i is not None:
            self.anomalies[i].append(anomaly)


class _Plan(NamedTuple):
    code: str | None = None
    expected: int = 0
    overtime: int = 0
    late: int = 0
    early: int = 0
    absent: bool = False


class _ShiftActual:
    __slots__ = ("first_in_ms", "last", "present", "worked")

    def __init__(self) -> None:
        self.worked = 0
        self.first_in_ms: int | None = None
        self.last: Interval | None = None
        self.present = False

    def arrived(self, in_ms: int) -> None:
        self.present = True
        if self.first_in_ms is None or in_ms < self.first_in_ms:
            self.first_in_ms = in_ms

    def add(self, interval: Interval) -> None:
        self.worked += interval.seconds
        self.arrived(interval.in_ms)
        if self.last is None or interval.end_ms >= self.last.end_ms:
            self.last = interval


def _actuals(
    intervals: Iterable[Interval], anomalies: Iterable[Anomaly], shifts: _Shifts
) -> dict[date, _ShiftActual]:
    """Whole shifts: intervals grouped by the shift their IN belongs to, even across midnight."""
    actuals: dict[date, _ShiftActual] = {}
    for interval in intervals:
        shift = shifts.of(interval.in_ms)
        if shift is not None:
            actuals.setdefault(shift.day, _ShiftActual()).add(interval)
    for anomaly in anomalies:
        if anomaly.code == MISSING_OUT and not anomaly.details["auto_closed"]:
            in_ms = _ms(anomaly.ts_utc)
            shift = shifts.of(in_ms)
            if shift is not None:  # scanned in but never out: present (and maybe late)
                actuals.setdefault(shift.day, _ShiftActual()).arrived(in_ms)
    return actuals


def _whole_minutes_beyond(seconds: int, grace_minutes: int) -> int:
    # Within grace is 0; beyond it, the full delay in whole minutes from the scheduled time.
    minutes = seconds // 60 if seconds > 0 else 0
    return minutes if minutes > grace_minutes else 0


def _plan_for_shift(shift: _Shift, actual: _ShiftActual | None, policy: Policy, now_ms: int) -> _Plan:
    expected = shift.end_ms // 1000 - shift.start_ms // 1000
    ended = shift.end_ms <= now_ms
    if actual is None or not actual.present:
        return _Plan(WORK, expected, absent=ended)
    overtime = actual.worked - expected - policy.overtime_tolerance_minutes * 60
    late = early = 0
    if actual.first_in_ms is not None:
        late = _whole_minutes_beyond(
            actual.first_in_ms // 1000 - shift.start_ms // 1000, policy.late_grace_minutes
        )
    last = actual.last
    if ended and last is not None and not last.open:
        early = _whole_minutes_beyond(
            shift.end_ms // 1000 - last.end_ms // 1000, policy.early_exit_grace_minutes
        )
    return _Plan(WORK, expected, max(overtime, 0), late, early)


def _plans(
    schedules: Iterable[ScheduleIn],
    shifts: _Shifts,
    actuals: dict[date, _ShiftActual],
    days: _Days,
    policy: Policy,
    now_ms: int,
) -> dict[date, _Plan]:
    grid = days.grid
    first, last = grid.dates[0], grid.dates[-1]
    plans: dict[date, _Plan] = {}
    for cell in schedules:
        if not first <= cell.day <= last:
            continue
        code = _code(cell)
        shift = shifts.by_day.get(cell.day)
        if shift is not None:
            plans[cell.day] = _plan_for_shift(shift, actuals.get(cell.day), policy, now_ms)
        elif code == WORK:
            plans[cell.day] = _plan_for_untimed_work(cell.day, days, now_ms)
        else:
            plans[cell.day] = _Plan(code)  # off/sick/vacation/holiday/...: never an absence
    return plans


def _plan_for_untimed_work(day: date, days: _Days, now_ms: int) -> _Plan:
    # A work day without hours: nothing expected, absent only when nothing happened that day.
    i = (day - days.grid.dates[0]).days
    ended = days.grid.bounds_s[i + 1] * 1000 <= now_ms
    idle = days.worked[i] == 0 and not days.anomalies[i] and days.first_in[i] is None
    return _Plan(WORK, absent=ended and idle)


def _check_range(from_date: date, to_date: date) -> None:
    if to_date < from_date:
        raise Unprocessable("to_date is before from_date", code="invalid_range")


def _compute(
    events: Iterable[EventIn],
    schedules: Iterable[ScheduleIn],
    zone: ZoneLike,
    policy: Policy,
    now: datetime,
    from_date: date,
    to_date: date,
) -> tuple[_Days, dict[date, _Plan], ZoneInfo]:
    _check_range(from_date, to_date)
    tz = get_zone(zone)
    schedules = list(schedules)
    grid = _grid(from_date, to_date, tz)
    shifts = _Shifts(schedules, tz, policy.check_in_window_minutes * 60_000)
    intervals, anomalies = _build(events, shifts, policy, now, grid.bounds_s[0] * 1000)
    days = _Days(grid)
    for interval in intervals:
        days.add_interval(interval)
    for anomaly in anomalies:
        days.add_anomaly(anomaly)
    actuals = _actuals(intervals, anomalies, shifts)
    return days, _plans(schedules, shifts, actuals, days, policy, _ms(now)), tz


def daily(
    events: Iterable[EventIn],
    schedules: Iterable[ScheduleIn],
    zone: ZoneLike,
    policy: Policy,
    now: datetime,
    from_date: date,
    to_date: date,
) -> DailyReport:
    """Every local date of [from_date, to_date] with worked time and plan vs actual.

    The single source of the figures: summaries and exports are sums of these days (R10).
    """
    days, plans, tz = _compute(events, schedules, zone, policy, now, from_date, to_date)
    grid = days.grid
    return DailyReport(
        from_date=from_date,
        to_date=to_date,
        days=tuple(_row(i, days, plans.get(day), tz) for i, day in enumerate(grid.dates)),
        weeks=tuple(WeekRow(s, e, sum(days.worked[lo:hi])) for s, e, lo, hi in grid.weeks),
        months=tuple(MonthRow(m, s, e, sum(days.worked[lo:hi])) for m, s, e, lo, hi in grid.months),
        total_seconds=sum(days.worked),
        open_shift=any(days.open),
    )


_NO_PLAN = _Plan()


def _row(i: int, days: _Days, plan: _Plan | None, tz: ZoneInfo) -> DayRow:
    plan = plan or _NO_PLAN
    first_in, last_out = days.first_in[i], days.last_out[i]
    return DayRow(
        date_local=days.grid.dates[i],
        worked_seconds=days.worked[i],
        first_in_local=None if first_in is None else _clock(first_in, i, days.grid, tz),
        last_out_local=None if last_out is None else _clock(last_out, i, days.grid, tz),
        open_shift=days.open[i],
        auto_closed=days.auto[i],
        schedule_code=plan.code,
        expected_seconds=plan.expected,
        overtime_seconds=plan.overtime,
        late_minutes=plan.late,
        early_exit_minutes=plan.early,
        absent=plan.absent,
        anomalies=tuple(days.anomalies[i]),
    )


def summarize(report: DailyReport) -> SummaryRow:
    return SummaryRow(
        worked_seconds=sum(d.worked_seconds for d in report.days),
        expected_seconds=sum(d.expected_seconds for d in report.days),
        overtime_seconds=sum(d.overtime_seconds for d in report.days),
        missing_out_count=sum(1 for d in report.days for a in d.anomalies if a.code == MISSING_OUT),
        absent_days=sum(1 for d in report.days if d.absent),
    )


def summary_row(
    events: Iterable[EventIn],
    schedules: Iterable[ScheduleIn],
    zone: ZoneLike,
    policy: Policy,
    now: datetime,
    from_date: date,
    to_date: date,
) -> SummaryRow:
    """The payroll row: the same per-day figures as `daily`, summed (R10).

    It sums `daily`'s own accumulators rather than building DayRows, which saves the
    formatting the payroll run never shows; `summarize(daily(...))` gives the same row.
    """
    days, plans, _ = _compute(events, schedules, zone, policy, now, from_date, to_date)
    return SummaryRow(
        worked_seconds=sum(days.worked),
        expected_seconds=sum(p.expected for p in plans.values()),
        overtime_seconds=sum(p.overtime for p in plans.values()),
        missing_out_count=sum(1 for day in days.anomalies for a in day if a.code == MISSING_OUT),
        absent_days=sum(1 for p in plans.values() if p.absent),
    )
