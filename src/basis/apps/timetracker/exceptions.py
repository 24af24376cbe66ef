"""TimeTracker's errors, each with the stable code of docs/apps/timetracker.md.

Terminal refusals carry ``ok: false`` beside ``code`` and ``detail`` as the original's
terminals expect.
"""

from __future__ import annotations

from typing import Any

from basis.core.errors import BasisError, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable

_TERMINAL = {"ok": False}


def _t(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**_TERMINAL, **(extra or {})}


def unknown_terminal() -> Unauthorized:
    return Unauthorized(
        "Missing or unknown terminal key",
        code="unknown_terminal",
        headers={"WWW-Authenticate": "X-Terminal-Key"},
        extra=_t(),
    )


def terminal_inactive() -> Forbidden:
    return Forbidden("This terminal is deactivated", code="terminal_inactive", extra=_t())


def terminal_mismatch() -> Forbidden:
    return Forbidden(
        "terminal_id names another terminal than the one the key belongs to",
        code="terminal_mismatch",
        extra=_t(),
    )


def unknown_card() -> NotFound:
    return NotFound("No employee has this card", code="unknown_card", extra=_t())


def employee_inactive() -> Forbidden:
    return Forbidden("This employee is deactivated", code="employee_inactive", extra=_t())


def clock_skew(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="clock_skew", extra=_t())


def signature_required() -> Forbidden:
    return Forbidden(
        "This terminal requires a signed scan (challenge + phone key) for this employee",
        code="signature_required",
        extra=_t(),
    )


def invalid_challenge() -> Forbidden:
    return Forbidden(
        "Challenge unknown, expired, already used or issued to another terminal",
        code="invalid_challenge",
        extra=_t(),
    )


def bad_signature() -> Forbidden:
    return Forbidden("The signature does not match the employee's key", code="bad_signature", extra=_t())


def key_not_active() -> Forbidden:
    return Forbidden("The employee has no approved phone key", code="key_not_active", extra=_t())


def key_already_active() -> Conflict:
    return Conflict(
        "An approved key exists; an admin must revoke it first", code="key_already_active", extra=_t()
    )


def invalid_public_key(detail: str = "Not a DER SubjectPublicKeyInfo RSA key in base64") -> Unprocessable:
    return Unprocessable(detail, code="invalid_public_key", extra=_t())


def idempotency_conflict() -> Conflict:
    return Conflict(
        "client_event_id was already used for a scan with another uid, ts or direction",
        code="idempotency_conflict",
        extra=_t(),
    )


def employee_not_found() -> NotFound:
    return NotFound("Employee not found", code="employee_not_found")


def terminal_not_found() -> NotFound:
    return NotFound("Terminal not found", code="terminal_not_found")


def event_not_found() -> NotFound:
    return NotFound("Event not found", code="event_not_found")


def schedule_not_found() -> NotFound:
    return NotFound("Schedule cell not found", code="schedule_not_found")


def _cell_text(error: Any) -> str:
    detail = error.detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        where = ".".join(str(part) for part in detail[0].get("loc", ()))
        detail = f"{where}: {detail[0].get('msg')}" if where else detail[0].get("msg")
    who = f"employee {error.employee_id}" if error.employee_id is not None else "no employee"
    return f"cell {error.index} ({who}, {error.day or 'no day'}): {detail}"


def invalid_schedule(errors: list[Any]) -> Unprocessable:
    """Refused schedule cells (``ScheduleCellError``s), each named in ``errors``."""
    more = f"; and {len(errors) - 1} more cell(s)" if len(errors) > 1 else ""
    return Unprocessable(
        f"Schedule {_cell_text(errors[0])}{more}; nothing was saved",
        code="invalid_schedule",
        extra={"errors": [error.model_dump() for error in errors]},
    )


def user_not_found() -> NotFound:
    return NotFound("User not found", code="user_not_found")


def duplicate_uid() -> Conflict:
    return Conflict("Another employee has this card UID", code="duplicate_uid")


def duplicate_terminal_name() -> Conflict:
    return Conflict("A terminal with this name exists", code="duplicate_name")


def user_already_linked() -> Conflict:
    return Conflict("This user is linked to another employee", code="user_already_linked")


def overlap(detail: str) -> Conflict:
    return Conflict(detail, code="overlap")


def event_deleted() -> Conflict:
    return Conflict("This event is deleted", code="event_deleted")


def no_pending_key() -> Conflict:
    return Conflict("There is no pending key to approve", code="no_pending_key")


def no_key() -> Conflict:
    return Conflict("There is no key to revoke", code="no_key")


def not_your_employee() -> Forbidden:
    return Forbidden("You may read only your own employee record", code="forbidden")


def reason_required() -> Unprocessable:
    return Unprocessable("A reason is required for a correction", code="reason_required")


def is_terminal_refusal(exc: BasisError) -> bool:
    return exc.extra.get("ok") is False
