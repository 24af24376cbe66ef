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
_HOUR_RANGE = re.compile(r"^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$")


def _parse_clock(value: str | None, field: str) -> dt.time | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = dt.time.fromisoformat(text if len(text) != 4 else "0" + text)
    except ValueError:
        raise Unprocessable(f"{field} must be HH:MM", code="invalid_time") from None
    return parsed.replace(microsecond=0, tzinfo=None)


def cell_values(cell: ScheduleCellIn) -> tuple[str, dt.time | None, dt.time | None] | None:
    """(code, start, end), or None when the cell asks to delete the day."""
    start = _parse_clock(cell.start, "start")
    end = _parse_clock(cell.end, "end")
    code = cell.code.strip().lower() if cell.code is not None else None
    if code == "":
        return None
    if code is not None and (match := _HOUR_RANGE.match(code)):
        h1, m1, h2, m2 = match.groups()
        try:
            start = dt.time(int(h1) % 24, int(m1 or 0))
            end = dt.time(int(h2) % 24, int(m2 or 0))
        except ValueError:
            raise Unprocessable(f"Not a shift {cell.code!r}", code="invalid_time") from None
        code = "work"
    if code is None:
        if start is None and end is None:
            raise Unprocessable("A cell needs a code or start and end", code="invalid_cell")
        code = "work"
    if code not in SCHEDULE_CODES:
        raise Unprocessable(
            f"Unknown code {cell.code!r}: one of {', '.join(SCHEDULE_CODES)} (or empty to delete)",
            code="invalid_code",
        )
    if (start is None) != (end is None):
        raise Unprocessable("Give both start and end, or neither", code="invalid_cell")
    if code != "work":
        start = end = None
    return code, start, end


def cell_error(index: int, cell: ScheduleCellIn, code: str, detail: Any) -> ScheduleCellError:
    return ScheduleCellError(
        index=index, employee_id=cell.employee_id, day=cell.day.isoformat(), code=code, detail=detail
    )


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
                    detail=error.errors(include_url=False, include_context=False, include_input=False),
                )
            )
    return parsed, errors
