"""Request and response shapes: the terminal protocol and the staff API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from basis.apps.timetracker.settings import MAX_BATCH_ITEMS
from basis.core.openapi import refuse_control_characters
from basis.core.types import Id, printable_text

# What the protocol reads (parsing.normalise_uid / normalise_direction), declared for clients:
# a card UID is 1-64 hex digits with ':', '-' or spaces between them; a direction IN or OUT in
# any case (blank where it may be left out). Spaces here are the printable ones (tab, newlines):
# other control characters are refused in every text field.
_SP = r"[ \t\n\r]"
UID_PATTERN = r"^[ \t\n\r:-]*([0-9A-Fa-f][ \t\n\r:-]*){1,64}$"
DIRECTION_PATTERN = rf"^{_SP}*([Ii][Nn]|[Oo][Uu][Tt]){_SP}*$"
OPTIONAL_DIRECTION_PATTERN = rf"^{_SP}*([Ii][Nn]|[Oo][Uu][Tt])?{_SP}*$"
_UID = {"pattern": UID_PATTERN}
# A time as parsing reads it: an ISO date-time, with or without an offset (and for range bounds,
# a date alone).
_TIME = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?"
TIMESTAMP_PATTERN = rf"^{_SP}*\d{{4}}-\d{{2}}-\d{{2}}{_TIME}{_SP}*$"
BOUND_PATTERN = rf"^{_SP}*\d{{4}}-\d{{2}}-\d{{2}}({_TIME})?{_SP}*$"
_PRINTABLE = "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"
# Printable text with at least one character that is not a space (it is stripped, then required).
REQUIRED_TEXT_PATTERN = rf"^{_PRINTABLE}*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{_PRINTABLE}*$"


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class Input(BaseModel):
    """Every request body: strings without control characters (422, never a database error),
    as its schema says."""

    model_config = ConfigDict(json_schema_extra=refuse_control_characters)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any, info: Any) -> Any:
        if info.field_name != "password" and isinstance(value, str):
            return printable_text(value)
        return value


# ------------------------------------------------------------------------ terminal protocol


class ScanIn(Input):
    model_config = ConfigDict(extra="ignore", json_schema_extra=refuse_control_characters)

    uid: str = Field(
        min_length=1,
        max_length=100,
        validation_alias=AliasChoices("uid", "nfc_uid"),
        json_schema_extra=_UID,
    )
    terminal_id: Id | None = None
    direction: str | None = Field(
        None, max_length=10, json_schema_extra={"pattern": OPTIONAL_DIRECTION_PATTERN}
    )
    ts: int | None = Field(None, ge=0, le=253_402_300_799_000)
    """Device time, epoch milliseconds; absent means the server's time."""
    client_event_id: str | None = Field(None, min_length=1, max_length=100)


class ScanResult(BaseModel):
    ok: bool = True
    status: Literal["accepted", "duplicate"]
    message: str
    event_id: int
    employee_id: int
    employee_name: str
    direction: Literal["IN", "OUT"]
    ts: int
    """The event's instant, epoch milliseconds."""
    ts_utc: dt.datetime
    replayed: bool | None = None


NfcTime = Annotated[
    dt.datetime,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"},
                {"type": "number"},
            ],
            "description": "ISO-8601 with an offset; without one, the site's wall clock; or epoch "
            "seconds or milliseconds",
        }
    ),
]


class NfcIn(Input):
    """The original's ``POST /api/nfc``: a tap by card UID, the terminal from its key."""

    # The original's terminal_name: sent, never used.
    model_config = ConfigDict(extra="ignore", json_schema_extra=refuse_control_characters)

    nfc_uid: str = Field(min_length=1, max_length=100, json_schema_extra=_UID)
    direction: str = Field(min_length=1, max_length=10, json_schema_extra={"pattern": DIRECTION_PATTERN})
    ts: NfcTime | None = None
    """Device time, ISO-8601 (naive is the site's local time) or epoch seconds/milliseconds;
    absent means the server's time."""
    client_event_id: str | None = Field(None, min_length=1, max_length=100)


class NfcEvent(BaseModel):
    id: int
    employee_id: int
    terminal_id: int | None = None
    direction: Literal["IN", "OUT"]
    ts: dt.datetime


class NfcEmployee(BaseModel):
    id: int
    full_name: str


class NfcTerminal(BaseModel):
    id: int
    name: str


class NfcOut(BaseModel):
    """The original's answer, plus the status Basis's rules decided (a duplicate names the
    accepted event) and ``replayed`` for an idempotent resend."""

    ok: bool = True
    status: Literal["accepted", "duplicate"]
    message: str
    event: NfcEvent
    employee: NfcEmployee
    terminal: NfcTerminal
    replayed: bool | None = None


class BatchIn(BaseModel):
    scans: list[Any] = Field(max_length=MAX_BATCH_ITEMS)
    """Validated one by one so that one malformed item does not fail the others."""


class BatchItemResult(BaseModel):
    index: int
    http_status: int
    ok: bool
    status: Literal["accepted", "duplicate"] | None = None
    message: str | None = None
    event_id: int | None = None
    employee_id: int | None = None
    employee_name: str | None = None
    direction: Literal["IN", "OUT"] | None = None
    ts: int | None = None
    ts_utc: dt.datetime | None = None
    replayed: bool | None = None
    code: str | None = None
    detail: Any = None


class BatchOut(BaseModel):
    results: list[BatchItemResult]


class ChallengeIn(Input):
    terminal_id: Id | None = None


class ChallengeOut(BaseModel):
    challenge_b64: str
    expires_in: int


class SecureScanIn(Input):
    employee_uid: str = Field(min_length=1, max_length=100, json_schema_extra=_UID)
    terminal_id: Id | None = None
    direction: str | None = Field(
        None, max_length=10, json_schema_extra={"pattern": OPTIONAL_DIRECTION_PATTERN}
    )
    ts: int | None = Field(None, ge=0, le=253_402_300_799_000)
    challenge_b64: str = Field(min_length=1, max_length=200)
    signature_b64: str = Field(min_length=1, max_length=2000)
    client_event_id: str | None = Field(None, min_length=1, max_length=100)


class FirstScanIn(Input):
    employee_uid: str = Field(min_length=1, max_length=100, json_schema_extra=_UID)
    public_key_b64: str = Field(min_length=1, max_length=4000)
    terminal_id: Id | None = None


class FirstScanOut(BaseModel):
    ok: bool = True
    status: Literal["pending"] = "pending"
    employee_id: int


class HeartbeatOut(BaseModel):
    server_time: dt.datetime
    server_time_ms: int
    cooldown_seconds: int
    terminal_id: int
    terminal_name: str
    require_signature: bool


# ---------------------------------------------------------------------------- employees


class EmployeeCreate(Input):
    full_name: str = Field(min_length=1, max_length=200)
    nfc_uid: str = Field(min_length=1, max_length=100, json_schema_extra=_UID)
    position: str | None = Field(None, max_length=120)
    department: str | None = Field(None, max_length=120)
    comment: str | None = Field(None, max_length=5000)
    is_active: StrictBool = True
    timezone: str | None = Field(None, max_length=64)
    user_id: Id | None = None

    _strip = field_validator("full_name", "position", "department", "timezone", mode="before")(
        classmethod(lambda cls, v: _strip(v))
    )


class EmployeeUpdate(Input):
    # Optional but never null: the constraints go on the text itself (on the union they fail).
    full_name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    nfc_uid: (
        Annotated[str, Field(min_length=1, max_length=100, json_schema_extra=_UID)] | SkipJsonSchema[None]
    ) = None
    position: str | None = Field(None, max_length=120)
    department: str | None = Field(None, max_length=120)
    comment: str | None = Field(None, max_length=5000)
    is_active: StrictBool | SkipJsonSchema[None] = None
    timezone: str | None = Field(None, max_length=64)
    user_id: Id | None = None

    _strip = field_validator("full_name", "position", "department", "timezone", mode="before")(
        classmethod(lambda cls, v: _strip(v))
    )


class EmployeePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    full_name: str
    nfc_uid: str
    position: str | None
    department: str | None
    comment: str | None
    is_active: bool
    timezone: str
    """The zone reports use: the employee's own or the site's."""
    timezone_is_default: bool
    key_status: str
    user_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class KeyPublic(BaseModel):
    employee_id: int
    key_status: str
    public_key_b64: str | None
    fingerprint_sha256: str | None
    submitted_at: dt.datetime | None


# ------------------------------------------------------------------------------- events


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    employee_id: int
    terminal_id: int | None
    ts: dt.datetime
    received_at: dt.datetime
    direction: str
    direction_source: str
    is_manual: bool
    comment: str | None
    created_by: int | None
    client_event_id: str | None
    deleted_at: dt.datetime | None
    deleted_by: int | None = None
    delete_reason: str | None = None


class ManualEventListed(BaseModel):
    """An item of the original's ``GET /api/events/manual`` list."""

    id: int
    employee_id: int
    employee_full_name: str
    timestamp: dt.datetime
    ts_local: str
    date: str
    time: str
    direction: str
    terminal_id: int | None
    comment: str | None
    created_by_username: str
    created_at: dt.datetime


class ManualEventIn(Input):
    employee_id: Id
    timestamp: str = Field(min_length=1, max_length=64, json_schema_extra={"pattern": TIMESTAMP_PATTERN})
    """ISO 8601; with an offset it is exact, without one it is the employee's local time."""
    direction: str = Field(min_length=1, max_length=10, json_schema_extra={"pattern": DIRECTION_PATTERN})
    terminal_id: Id | None = None
    comment: str = Field(max_length=500, json_schema_extra={"pattern": REQUIRED_TEXT_PATTERN})

    @field_validator("comment")
    @classmethod
    def _comment_required(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("a comment is required for a manual event")
        return value


def _reason(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        raise ValueError("a reason is required")
    return value


class EventPatch(Input):
    timestamp: str | None = Field(
        None, min_length=1, max_length=64, json_schema_extra={"pattern": TIMESTAMP_PATTERN}
    )
    direction: str | None = Field(
        None, min_length=1, max_length=10, json_schema_extra={"pattern": OPTIONAL_DIRECTION_PATTERN}
    )
    comment: str | None = Field(None, max_length=500)
    reason: str = Field(max_length=500, json_schema_extra={"pattern": REQUIRED_TEXT_PATTERN})

    _reason = field_validator("reason")(classmethod(lambda cls, v: _reason(v)))


class EventDelete(Input):
    reason: str | None = Field(None, max_length=500)


# -------------------------------------------------------------------------------- stats


class IntervalOut(BaseModel):
    in_utc: dt.datetime
    out_utc: dt.datetime | None
    in_local: dt.datetime
    out_local: dt.datetime | None
    seconds: int
    auto_closed: bool
    open: bool


class AnomalyOut(BaseModel):
    code: str
    ts_utc: dt.datetime
    ts_local: dt.datetime
    details: dict[str, Any]


class IntervalStats(BaseModel):
    employee_id: int
    from_date: dt.date
    to_date: dt.date
    timezone: str
    total_seconds: int
    total_hms: str
    intervals: list[IntervalOut]
    anomalies: list[AnomalyOut]
    open_shift: bool


class DayOut(BaseModel):
    date_local: dt.date
    worked_seconds: int
    worked_minutes: int
    worked_hms: str
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
    anomalies: list[AnomalyOut]


class WeekOut(BaseModel):
    week_start: dt.date
    week_end: dt.date
    worked_seconds: int
    worked_hms: str


class MonthOut(BaseModel):
    month: str
    start: dt.date
    end: dt.date
    worked_seconds: int
    worked_hms: str


class DailyStats(BaseModel):
    employee_id: int
    from_date: dt.date
    to_date: dt.date
    timezone: str
    items: list[DayOut]
    total_seconds: int
    total_hms: str
    weeks: list[WeekOut]
    months: list[MonthOut]


class SummaryRowOut(BaseModel):
    employee_id: int
    full_name: str
    department: str | None
    worked_seconds: int
    expected_seconds: int
    overtime_seconds: int
    missing_out_count: int
    absent_days: int


class SummaryOut(BaseModel):
    from_date: dt.date
    to_date: dt.date
    items: list[SummaryRowOut]


# ---------------------------------------------------------------------------- schedules


class ScheduleCellIn(Input):
    model_config = ConfigDict(extra="ignore")

    employee_id: Id
    day: dt.date
    start: str | None = Field(None, validation_alias=AliasChoices("start", "start_hhmm"), max_length=8)
    end: str | None = Field(None, validation_alias=AliasChoices("end", "end_hhmm"), max_length=8)
    code: str | None = Field(None, max_length=20)
    label: str | None = Field(None, max_length=50)


class ScheduleBulkIn(BaseModel):
    cells: list[Any] = Field(max_length=5000)


class ScheduleCellError(BaseModel):
    index: int
    """The cell's place in ``cells``, from 0."""
    employee_id: int | None = None
    day: str | None = None
    code: str
    field: str | None = None
    """The part of the cell that is wrong: ``code``, ``start``, ``end``, ``employee_id``, ``day``."""
    detail: Any


class ScheduleRefused(BaseModel):
    """422: ``invalid_schedule`` names every refused cell in ``errors`` (nothing was saved); a
    body that is not ``{cells: [...]}`` at all is the core's ``validation_error``."""

    detail: Any
    code: str
    errors: list[ScheduleCellError] = []


class ScheduleBulkOut(BaseModel):
    saved: int
    deleted: int
    errors: list[ScheduleCellError]
    success: int
    """The original's name: cells saved or deleted."""
    failed: int
    """The original's name: cells refused (see ``errors``)."""


class SchedulePublic(BaseModel):
    id: int
    employee_id: Id
    day: dt.date
    start: str | None
    end: str | None
    start_hhmm: str | None
    end_hhmm: str | None
    code: str
    label: str | None
    overnight: bool


class ScheduleList(BaseModel):
    date_from: dt.date
    date_to: dt.date
    items: list[SchedulePublic]


# ---------------------------------------------------------------------------- terminals


class TerminalCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    location: str | None = Field(None, max_length=200)
    require_signature: StrictBool = False

    _strip = field_validator("name", "location", mode="before")(classmethod(lambda cls, v: _strip(v)))


class TerminalUpdate(Input):
    name: Annotated[str, Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = None
    location: str | None = Field(None, max_length=200)
    is_active: StrictBool | SkipJsonSchema[None] = None
    require_signature: StrictBool | SkipJsonSchema[None] = None

    _strip = field_validator("name", "location", mode="before")(classmethod(lambda cls, v: _strip(v)))


class TerminalPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    location: str | None
    is_active: bool
    require_signature: bool
    last_seen_at: dt.datetime | None
    key_rotated_at: dt.datetime | None
    created_at: dt.datetime


class TerminalWithKey(TerminalPublic):
    api_key: str
    """Shown once: only its hash is kept."""


class TerminalKeyOut(BaseModel):
    id: int
    name: str
    api_key: str


# -------------------------------------------------------------------------------- audit


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor: str | None
    actor_id: int | None
    action: str
    entity: str
    entity_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None
    created_at: dt.datetime


# -------------------------------------------------------------------------------- login


class LoginIn(Input):
    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int | None = None
    role: str | None = None
