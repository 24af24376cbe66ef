"""The exchange's domain errors, each with the stable ``code`` clients branch on."""

from __future__ import annotations

from typing import Any

from basis.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable


def not_found(what: str, code: str) -> NotFound:
    return NotFound(f"{what} not found", code=code)


def user_not_found() -> NotFound:
    return not_found("User", "user_not_found")


def item_not_found() -> NotFound:
    return not_found("Listing item", "item_not_found")


def exchange_not_found() -> NotFound:
    return not_found("Exchange", "exchange_not_found")


def message_not_found() -> NotFound:
    return not_found("Message", "message_not_found")


def report_not_found() -> NotFound:
    return not_found("Report", "report_not_found")


def version_not_found(version: str) -> NotFound:
    return NotFound(f"Category version '{version}' not found or not active", code="version_not_found")


def invalid_exchange_type() -> BadRequest:
    return BadRequest(
        "Invalid exchange type. Must be 'permanent' or 'temporary'", code="invalid_exchange_type"
    )


def not_yours() -> Forbidden:
    return Forbidden("Only the owner or an admin may do this", code="forbidden")


def not_participant() -> Forbidden:
    return Forbidden("Only the exchange's participants may do this", code="not_participant")


def invalid(field: str | tuple[Any, ...], message: str, code: str = "validation_error") -> Unprocessable:
    loc = list(field) if isinstance(field, tuple) else ["body", field]
    return Unprocessable([{"loc": loc, "msg": message, "type": code}], code=code)


def limit_exceeded(message: str, **extra: Any) -> Unprocessable:
    return Unprocessable(message, code="limit_exceeded", extra=extra)


def wrong_status(status: str, action: str) -> Conflict:
    return Conflict(
        f"The exchange is {status}: cannot {action}", code=f"exchange_{status}", extra={"status": status}
    )
