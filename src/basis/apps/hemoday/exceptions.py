"""HemoDay's domain errors, each with the stable ``code`` clients branch on."""

from __future__ import annotations

from typing import Any

from basis.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable


def sync_conflict(conflicts: list[dict[str, Any]]) -> Conflict:
    return Conflict(
        "Records changed on the server since your last pull; pull, merge and push again",
        code="sync_conflict",
        extra={"conflicts": conflicts[:100]},
    )


def family_not_empty() -> Conflict:
    return Conflict("The family still has other members", code="family_not_empty")


def invite_code_not_found() -> NotFound:
    return NotFound("Invite code not found", code="invite_code_not_found")


def member_not_found() -> NotFound:
    return NotFound("Member not found", code="member_not_found")


def owner_only() -> Forbidden:
    return Forbidden("Only the family's owner can do this", code="owner_only")


def cannot_remove_owner() -> BadRequest:
    return BadRequest(
        "The owner cannot remove themself; transfer ownership first", code="cannot_remove_owner"
    )


def file_not_found() -> NotFound:
    return NotFound("File not found", code="not_found")


def invalid_field(field: str, msg: str, *, where: str = "body") -> Unprocessable:
    return Unprocessable(
        [{"loc": [where, field], "msg": msg, "type": "value_error"}], code="validation_error"
    )
