"""The one clock of Basis and the conversions between local wall-clock time and UTC.

Everything stored is an aware UTC instant at millisecond precision; local time exists only at
the edges (input parsing, day boundaries, display).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from basis.core.errors import Unprocessable

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_ONE_DAY = timedelta(days=1)

ZoneLike = ZoneInfo | str

# Names ZoneInfo can open that are not IANA zones (they depend on the host or are stubs).
_NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})


def utcnow() -> datetime:
    return truncate_ms(datetime.now(UTC))


def truncate_ms(dt: datetime) -> datetime:
    return dt.replace(microsecond=dt.microsecond - dt.microsecond % 1000)


def ensure_utc(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything Basis writes is UTC.
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_ms(dt: datetime) -> int:
    return (ensure_utc(dt) - EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def get_zone(name: ZoneLike) -> ZoneInfo:
    if isinstance(name, ZoneInfo):
        return name
    zone = _load_zone(name) if isinstance(name, str) else None
    if zone is None:
        raise Unprocessable(f"Unknown time zone {name!r}: use an IANA name such as Europe/Warsaw",
                            code="invalid_timezone")
    return zone


def is_valid_zone(name: str) -> bool:
    return isinstance(name, str) and _load_zone(name) is not None


@lru_cache(maxsize=512)
def _load_zone(name: str) -> ZoneInfo | None:
    if not name or name != name.strip() or name in _NOT_IANA:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def local_to_utc(naive_local: datetime, zone: ZoneLike) -> datetime:
    """Exact conversion of a local wall-clock time; refuses DST-gap and repeated-hour times."""
    if naive_local.tzinfo is not None:
        return ensure_utc(naive_local)
    tz = get_zone(zone)
    first, second = _both_folds(naive_local, tz)
    if first == second:
        return first
    if first.astimezone(tz).replace(tzinfo=None) != naive_local:
        raise Unprocessable(
            f"{naive_local.isoformat()} does not exist in {tz.key} (clocks jump forward then)",
            code="nonexistent_local_time",
        )
    raise Unprocessable(
        f"{naive_local.isoformat()} happens twice in {tz.key} (clocks go back then): "
        "give an explicit UTC offset",
        code="ambiguous_local_time",
    )


def _both_folds(naive_local: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    first = naive_local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive_local.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return first, second


def parse_instant(value: str, zone: ZoneLike) -> datetime:
    """ISO-8601 text to a UTC instant (ms precision): an offset or Z is exact, naive is local."""
    if not isinstance(value, str):
        raise _invalid_datetime(value)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _invalid_datetime(value) from None
    try:
        instant = local_to_utc(parsed, zone) if parsed.tzinfo is None else ensure_utc(parsed)
    except OverflowError:
        raise _invalid_datetime(value) from None
    return truncate_ms(instant)


def _invalid_datetime(value: object) -> Unprocessable:
    return Unprocessable(f"Not an ISO-8601 date-time: {value!r}", code="invalid_datetime")


def wall_clock_to_utc(day: date, t: time, zone: ZoneLike) -> datetime:
    """UTC instant of a schedule's wall-clock time; never fails.

    A stored schedule cell must always yield an instant, so instead of refusing like
    `local_to_utc`: a time in the DST gap means the first instant after the gap (the moment the
    clock jumps, when the shift can actually begin), and a repeated time means its first
    occurrence (what someone arriving by the wall clock meets first).
    """
    return _wall_clock_to_utc(day, t.replace(tzinfo=None, fold=0), get_zone(zone))


@lru_cache(maxsize=65536)
def _wall_clock_to_utc(day: date, t: time, tz: ZoneInfo) -> datetime:
    naive = datetime.combine(day, t)
    first, second = _both_folds(naive, tz)
    if first == second or first.astimezone(tz).replace(tzinfo=None) == naive:
        return first  # unambiguous, or the first of two occurrences
    return _transition_between(min(first, second), max(first, second), tz)


def _transition_between(before: datetime, after: datetime, tz: ZoneInfo) -> datetime:
    # The UTC offset changes exactly once in (before, after]; bisect to the whole second.
    target = after.astimezone(tz).utcoffset()
    lo, hi = before, after
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


def local_day_bounds(day: date, zone: ZoneLike) -> tuple[datetime, datetime]:
    """UTC start of the local day and of the next one (23 h or 25 h apart on DST days)."""
    tz = get_zone(zone)
    return _day_start(day, tz), _day_start(day + _ONE_DAY, tz)


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return _wall_clock_to_utc(day, time(0), tz)


def local_date(instant: datetime, zone: ZoneLike) -> date:
    return ensure_utc(instant).astimezone(get_zone(zone)).date()


def split_at_local_midnights(
    start_utc: datetime, end_utc: datetime, zone: ZoneLike
) -> list[tuple[date, datetime, datetime]]:
    """Pieces (local date, UTC start, UTC end) of [start_utc, end_utc); empty when end <= start."""
    tz = get_zone(zone)
    start, end = ensure_utc(start_utc), ensure_utc(end_utc)
    pieces: list[tuple[date, datetime, datetime]] = []
    day = start.astimezone(tz).date()
    cursor = start
    while cursor < end:
        next_start = _day_start(day + _ONE_DAY, tz)
        piece_end = min(end, next_start)
        pieces.append((day, cursor, piece_end))
        cursor, day = piece_end, day + _ONE_DAY
    return pieces
