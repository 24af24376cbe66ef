"""Client input turned into TimeTracker's values, or a 422 that names what is wrong: card UIDs,
directions, time zones, manual instants, range bounds, and schedule cells as operators type them
(a code such as ``off``, or a shift such as ``8-16``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from basis.apps.timetracker.schemas import ScheduleCellError, ScheduleCellIn
from basis.apps.timetracker.settings import TimetrackerSettings
from basis.core.errors import Unprocessable
from basis.core.time import get_zone, is_valid_zone, parse_instant
from basis.settings import Settings

SCHEDULE_CODES = ("work", "off", "sick", "vacation", "holiday")
CODE_LABELS = {
    "work": "Work",
    "off": "Day off",
    "sick": "Sick leave",
    "vacation": "Vacation",
    "holiday": "Holiday",
}
_UID_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-F]+$")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def normalise_uid(raw: str) -> str:
    """``04:a1-b2 c3`` -> ``04A1B2C3``; 422 ``invalid_uid`` for anything but hex."""
    uid = _UID_SEPARATORS.sub("", raw or "").upper()
    if not uid or not _HEX.match(uid) or len(uid) > 64:
        raise Unprocessable(
            "A card UID is hexadecimal, optionally with ':', '-' or spaces between bytes",
            code="invalid_uid",
            extra={"ok": False},
        )
    return uid


def normalise_direction(raw: str | None, *, required: bool = False) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise Unprocessable("direction must be IN or OUT", code="invalid_direction")
        return None
    value = raw.strip().upper()
    if value not in ("IN", "OUT"):
        raise Unprocessable("direction must be IN or OUT", code="invalid_direction", extra={"ok": False})
    return value


def uid_fragment(term: str) -> str | None:
    """A search term as the hex digits of a card UID, or None when it cannot be part of one."""
    uid = _UID_SEPARATORS.sub("", term).upper()
    return uid if uid and _HEX.match(uid) else None


def check_zone(name: str | None) -> str | None:
    if name in (None, ""):
        return None
    if not is_valid_zone(name):
        raise Unprocessable(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Warsaw", code="invalid_timezone"
        )
    return name


def validate_zone_name(name: str) -> str:
    return get_zone(name).key


def manual_instant(value: str, zone: str, settings: Settings, now: dt.datetime) -> dt.datetime:
    ts = parse_instant(value, zone)
    if ts < EARLIEST:
        raise Unprocessable("A manual event before the year 2000 is surely a typo", code="invalid_datetime")
    if ts > now + dt.timedelta(seconds=settings.app(TimetrackerSettings).max_clock_skew_seconds):
        raise Unprocessable("A manual event cannot be in the future", code="future_timestamp")
    return ts


def parse_bound(value: str, zone: str, *, upper: bool) -> dt.datetime:
    """An ISO instant (offset or Z exact, naive local) or a local date; a date as the upper
    bound means the end of that day (inclusive)."""
    from basis.core.time import local_day_bounds

    text = value.strip()
    try:
        if len(text) == 10:
            start, end = local_day_bounds(dt.date.fromisoformat(text), zone)
            return end if upper else start
        instant = parse_instant(text, zone)
        return instant + dt.timedelta(milliseconds=1) if upper else instant
    except (ValueError, OverflowError):
        raise Unprocessable(f"Not a date or ISO date-time: {value!r}", code="invalid_datetime") from None


_CELL = TypeAdapter(ScheduleCellIn)
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(00))?$")
_SHIFT = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?$")


def _invalid_time(detail: str, field: str) -> Unprocessable:
    return Unprocessable(detail, code="invalid_time", extra={"field": field})


def _clock(hour: str, minute: str | None, *, end: bool) -> dt.time | None:
    """A wall-clock time from its parts; 24:00 only as the end of a shift (midnight)."""
    h, m = int(hour), int(minute or 0)
    if end and (h, m) == (24, 0):
        return dt.time(0, 0)
    if h > 23 or m > 59:
        return None
    return dt.time(h, m)


def _parse_clock(value: str | None, field: str) -> dt.time | None:
    if value is None or not value.strip():
        return None
    match = _CLOCK.match(value.strip())
    parsed = match and _clock(match.group(1), match.group(2), end=field == "end")
    if not parsed:
        raise _invalid_time(
            f"{field} must be a time HH:MM (00:00-23:59, 24:00 as an end), not {value!r}", field
        )
    return parsed


def _parse_shift(code: str, raw: str) -> tuple[dt.time, dt.time] | None:
    """``8-16`` or ``07:30-16:00`` as (start, end); None when the code is not shaped as a shift."""
    match = _SHIFT.match(code)
    if match is None:
        return None
    h1, m1, h2, m2 = match.groups()
    start = _clock(h1, m1, end=False)
    end = _clock(h2, m2, end=True)
    if start is None or end is None:
        raise _invalid_time(f"Not a shift {raw!r}: hours 0-23 (24 as an end), minutes 00-59", "code")
    return start, end


def cell_values(cell: ScheduleCellIn) -> tuple[str, dt.time | None, dt.time | None] | None:
    """(code, start, end), or None when the cell asks to delete the day."""
    start = _parse_clock(cell.start, "start")
    end = _parse_clock(cell.end, "end")
    code = cell.code.strip().lower() if cell.code is not None else None
    if code == "":
        return None
    if code is not None and (shift := _parse_shift(code, cell.code or "")) is not None:
        (start, end), code = shift, "work"
    if code is None:
        if start is None and end is None:
            raise Unprocessable(
                "A cell needs a code or start and end", code="invalid_cell", extra={"field": "code"}
            )
        code = "work"
    if code not in SCHEDULE_CODES:
        raise Unprocessable(
            f"Unknown code {cell.code!r}: one of {', '.join(SCHEDULE_CODES)}, a shift such as 8-16 "
            "(or empty to delete)",
            code="invalid_code",
            extra={"field": "code"},
        )
    if (start is None) != (end is None):
        missing = "end" if end is None else "start"
        raise Unprocessable(
            "Give both start and end, or neither", code="invalid_cell", extra={"field": missing}
        )
    if code != "work":
        start = end = None
    return code, start, end


def cell_error(
    index: int, cell: ScheduleCellIn, code: str, detail: Any, field: str | None = None
) -> ScheduleCellError:
    return ScheduleCellError(
        index=index,
        employee_id=cell.employee_id,
        day=cell.day.isoformat(),
        code=code,
        field=field,
        detail=detail,
    )


def _error_field(error: ValidationError) -> str | None:
    first = error.errors()[0]["loc"] if error.errors() else ()
    return str(first[0]) if first else None


def parse_cells(cells: Sequence[Any]) -> tuple[list[tuple[int, ScheduleCellIn]], list[ScheduleCellError]]:
    """The cells that are well-formed, each with its index, and an error for every other one."""
    parsed: list[tuple[int, ScheduleCellIn]] = []
    errors: list[ScheduleCellError] = []
    for index, raw in enumerate(cells):
        try:
            parsed.append((index, _CELL.validate_python(raw)))
        except ValidationError as error:
            errors.append(
                ScheduleCellError(
                    index=index,
                    employee_id=raw.get("employee_id") if isinstance(raw, dict) else None,
                    day=str(raw.get("day")) if isinstance(raw, dict) and raw.get("day") is not None else None,
                    code="validation_error",
                    field=_error_field(error),
                    detail=error.errors(include_url=False, include_context=False, include_input=False),
                )
            )
    return parsed, errors
