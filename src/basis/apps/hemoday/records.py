"""The synced columns of each table and the whole-push validation (rules 1, 7, 8, 31).

A pushed record is checked against its table's columns with strict JSON types: a boolean is
not a number, a date is ISO, a reminder's time is HH:MM. Columns the server owns or does not
know are dropped. Every problem of a push is collected, so a refusal names them all.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from basis.apps.hemoday.defaults import GLOBAL_IDS, WITH_DEFAULT_FLAG
from basis.apps.hemoday.models import RECORD_ID_LENGTH, SYNCED
from basis.core.errors import Unprocessable

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_NUMBER = 1e12


@dataclass(frozen=True, slots=True)
class Column:
    kind: str
    """text | date | time | number | ref"""
    required: bool = False
    length: int = 255
    check: Callable[[float], bool] | None = None
    rule: str = ""


def _text(length: int = 255, required: bool = False) -> Column:
    return Column("text", required, length)


def _number(required: bool = False, check: Callable[[float], bool] | None = None, rule: str = "") -> Column:
    return Column("number", required, check=check, rule=rule)


_HB = _number(check=lambda v: v >= 0, rule="must not be negative")

COLUMNS: dict[str, dict[str, Column]] = {
    "transfusions": {
        "date": Column("date", True),
        "component": _text(),
        "volume": _number(True, lambda v: 0 < v <= 5000, "must be above 0 and at most 5000 ml"),
        "weight": _number(True, lambda v: 0 < v <= 400, "must be above 0 and at most 400 kg"),
        "hb_before": _HB,
        "hb_after": _HB,
        "chelator": _text(),
        "note": _text(10_000),
    },
    "analyses": {"name": _text(required=True), "date": Column("date", True), "template_name": _text()},
    "analysis_items": {
        "analysis_id": Column("ref", True, RECORD_ID_LENGTH),
        "name": _text(required=True),
        "value": _text(required=True),
        "unit": _text(100),
    },
    "analysis_templates": {"name": _text()},
    "analysis_template_items": {
        "template_id": Column("ref", False, RECORD_ID_LENGTH),
        "name": _text(),
        "unit": _text(100),
    },
    "reminders": {
        "title": _text(required=True),
        "date": Column("date", True),
        "time": Column("time", True),
        "repeat": _text(40, required=True),
        "note": _text(10_000),
    },
    "documents": {"name": _text(required=True), "category": _text(), "file_url": _text(1024, True)},
    "component_types": {"name": _text(required=True), "icon_name": _text(100), "sort_order": _number()},
    "chelator_types": {"name": _text(required=True), "sort_order": _number()},
}
"""What a client writes, per table; everything else in a pushed record is ignored."""

COMPUTED: dict[str, tuple[str, ...]] = {"transfusions": ("volume_per_kg", "delta_hb")}
assert set(COLUMNS) == set(SYNCED)


@dataclass(slots=True)
class TablePush:
    upserts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """id -> the client columns the record carried."""
    deletes: list[str] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, loc: tuple[Any, ...], msg: str, kind: str = "value_error") -> None:
        if len(self.items) < 100:
            self.items.append({"loc": ["body", *loc], "msg": msg, "type": kind})


def is_iso_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value[:10])
        if len(value) > 10:
            dt.datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        return False
    return True


def _storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_value(column: Column, value: Any) -> str | None:
    """Why ``value`` does not fit ``column``, or None."""
    if column.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            return "must be a finite number"
        if column.check is not None and not column.check(value):
            return column.rule
        return None
    if not isinstance(value, str):
        return "must be a string"
    if not _storable(value):
        return "must be valid text without NUL characters"
    if len(value) > column.length:
        return f"must be at most {column.length} characters"
    if column.kind == "date" and not is_iso_date(value):
        return "must be an ISO date (YYYY-MM-DD, optionally with a time)"
    if column.kind == "time" and not _TIME.match(value):
        return "must be a time HH:MM between 00:00 and 23:59"
    if column.kind in ("ref",) and not value:
        return "must not be empty"
    return None


def valid_record_id(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= RECORD_ID_LENGTH and _storable(value)


def _record(
    table: str, raw: Any, loc: tuple[Any, ...], problems: _Problems
) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(raw, dict):
        problems.add(loc, "a record must be an object", "dict_type")
        return None
    record_id = raw.get("id")
    if not valid_record_id(record_id):
        problems.add((*loc, "id"), "id must be a string of 1-64 characters", "string_type")
        return None
    values: dict[str, Any] = {}
    for name, column in COLUMNS[table].items():
        value = raw.get(name)
        if value is None:
            if column.required:
                problems.add((*loc, name), "Field required", "missing")
            elif name in raw:
                values[name] = None
            continue
        why = _check_value(column, value)
        if why:
            problems.add((*loc, name), why)
        else:
            values[name] = value
    return record_id, values


def _ignored(table: str, record_id: str, raw: dict[str, Any]) -> bool:
    """Global rows and rows marked default: the app pushes its seeded defaults (rule 11)."""
    return record_id in GLOBAL_IDS or (table in WITH_DEFAULT_FLAG and raw.get("is_default") is True)


def parse_changes(changes: Any) -> dict[str, TablePush]:
    """The push as per-table work, or ``Unprocessable`` naming every problem; nothing is stored."""
    problems = _Problems()
    parsed: dict[str, TablePush] = {}
    if not isinstance(changes, dict):
        problems.add(("changes",), "changes must be an object", "dict_type")
        raise Unprocessable(problems.items, code="validation_error")
    for table, lists in changes.items():
        loc: tuple[Any, ...] = ("changes", table)
        if table not in COLUMNS:
            problems.add(loc, f"unknown table {str(table)[:64]!r}", "unknown_table")
            continue
        if not isinstance(lists, dict):
            problems.add(loc, "must be an object with created, updated and deleted", "dict_type")
            continue
        work = parsed[table] = TablePush()
        for kind in ("created", "updated"):
            records = lists.get(kind) or []
            if not isinstance(records, list):
                problems.add((*loc, kind), "must be a list", "list_type")
                continue
            for index, raw in enumerate(records):
                got = _record(table, raw, (*loc, kind, index), problems)
                if got is not None and not _ignored(table, got[0], raw):
                    work.upserts[got[0]] = got[1]
        deleted = lists.get("deleted") or []
        if not isinstance(deleted, list):
            problems.add((*loc, "deleted"), "must be a list of ids", "list_type")
            continue
        for index, record_id in enumerate(deleted):
            if not valid_record_id(record_id):
                problems.add(
                    (*loc, "deleted", index), "id must be a string of 1-64 characters", "string_type"
                )
            elif record_id not in GLOBAL_IDS:
                work.upserts.pop(record_id, None)
                work.deletes.append(record_id)
    if problems.items:
        raise Unprocessable(problems.items, code="validation_error")
    return parsed


def computed(table: str, values: dict[str, Any]) -> dict[str, Any]:
    """The server's columns of a transfusion from its stored values (rule 10)."""
    if table != "transfusions":
        return {}
    volume, weight = values.get("volume"), values.get("weight")
    before, after = values.get("hb_before"), values.get("hb_after")
    return {
        "volume_per_kg": round(volume / weight, 2) if volume is not None and weight else None,
        "delta_hb": round(after - before, 1) if after is not None and before is not None else None,
    }
