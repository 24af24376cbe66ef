"""The canonical APIs' paging parameters: ``?limit=`` (default 50, max 500) and ``?offset=``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_LIMIT = 500
# Past this an offset scan is never what a client wants, and larger integers overflow
# SQLite's and MariaDB's bind types: refuse with 422 instead.
MAX_OFFSET = 10_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-500)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")]
