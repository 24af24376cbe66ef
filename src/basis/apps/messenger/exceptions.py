"""The messenger's domain errors, each with the stable ``code`` clients branch on."""

from __future__ import annotations

from basis.core.errors import Conflict, Forbidden, NotFound, Unprocessable


def chat_not_found() -> NotFound:
    return NotFound("Chat not found", code="not_found")


def not_a_member() -> Forbidden:
    return Forbidden("You are not a member of this chat", code="forbidden")


def not_the_owner() -> Forbidden:
    return Forbidden("Only the group's owner may change its members", code="forbidden")


def not_the_sender() -> Forbidden:
    return Forbidden("Only the sender may change this message", code="forbidden")


def message_not_found() -> NotFound:
    return NotFound("Message not found", code="not_found")


def user_not_found() -> NotFound:
    return NotFound("User not found", code="not_found")


def member_not_found() -> NotFound:
    return NotFound("This user is not a member of the chat", code="not_found")


def dialog_members_fixed() -> Conflict:
    return Conflict("A dialog's members never change", code="dialog_members_fixed")


def invalid(field: str, message: str) -> Unprocessable:
    """A 422 in FastAPI's field-error shape, so REST and the socket report it alike."""
    detail = [{"type": "value_error", "loc": ["body", field], "msg": message}]
    return Unprocessable(detail, code="validation_error")


def unknown_users(ids: list[int]) -> Unprocessable:
    detail = [{"type": "value_error", "loc": ["body", "members"], "msg": f"Unknown user ids: {ids}"}]
    return Unprocessable(detail, code="validation_error", extra={"user_ids": ids})


def upload_missing(key: str) -> Unprocessable:
    return Unprocessable(
        "The attachment was not uploaded as presigned (missing, or of another size)",
        code="upload_missing",
        extra={"object_key": key},
    )


def upload_of_another_user(key: str) -> Forbidden:
    return Forbidden("Another user presigned this upload", code="forbidden", extra={"object_key": key})


def content_type_not_allowed(content_type: str) -> Unprocessable:
    return invalid("content_type", f"Files of type {content_type!r} are not accepted")
