"""Ids as clients send them: numbers or strings; one that names nothing is a 404, never a 422."""

from __future__ import annotations

from collections.abc import Callable

from basis.core.errors import NotFound
from basis.core.types import MAX_ID


def parse_id(value: object, not_found: Callable[[], NotFound]) -> int:
    if isinstance(value, bool):
        raise not_found()
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise not_found()
    if not 1 <= number <= MAX_ID:
        raise not_found()
    return number
