"""Input types every API shares: row ids and text a database can store.

Each is an ``Annotated`` type that works the same in a path, a query and a body: its bounds
live in the type (``annotated_types``), so FastAPI documents them as ``minimum``/``maximum``
wherever it is used.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from annotated_types import Ge, Le
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

MAX_ID = 2**31 - 1
"""The largest id a 32-bit integer column holds: a larger one would overflow the bind, not 404."""

Id = Annotated[int, Ge(1), Le(MAX_ID)]
"""A row id in a path, a query or a body."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""A ``pattern`` for query parameters: no control characters (tab and newlines allowed)."""
NO_NUL = r"^[^\x00]*$"
"""A ``pattern`` for query parameters: no NUL (PostgreSQL cannot store or compare it)."""


def storable_text(value: str) -> str:
    """Refuse what a database cannot store: NUL characters (PostgreSQL) and lone surrogates."""
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "Text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("invalid_unicode", "Text must be valid Unicode") from None
    return value


def is_storable(value: str) -> bool:
    """Whether ``value`` passes ``storable_text`` (for a search term: a miss, not a 422)."""
    try:
        storable_text(value)
    except ValueError:
        return False
    return True


def printable_text(value: str) -> str:
    """``storable_text`` that also refuses the other control characters (tab and newlines pass)."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return storable_text(value)


def refuse_in_strings(check: Any, value: Any) -> Any:
    """``check(value)`` for a string; other values pass (for a ``field_validator("*")``)."""
    return check(value) if isinstance(value, str) else value


StorableText = Annotated[str, AfterValidator(storable_text)]
PrintableText = Annotated[str, AfterValidator(printable_text)]


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def iso_text(value: Any) -> Any:
    """Dates and times as ISO-8601 only: pydantic would read a number, or a numeric string such
    as ``?to_date=0``, as seconds since 1970, which no client means and no schema declares."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise PydanticCustomError("iso_required", "Give an ISO-8601 date or date-time, not a number")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(iso_text)]
"""A date in a path, a query or a body: ISO-8601 text (``2026-03-29``), never a number."""
IsoDateTime = Annotated[dt.datetime, BeforeValidator(iso_text)]
"""A date-time in a path, a query or a body: ISO-8601 text, never a number."""
