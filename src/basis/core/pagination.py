"""One paging style for the canonical APIs: ``?limit=`` (default 50, max 500) and ``?offset=``
in, ``{items, total, limit, offset}`` out.

No ``from __future__ import annotations`` here: FastAPI must see the real annotations of the
dependency that ``paging`` builds, whose offset type is a local name.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
# Past this an offset scan is never what a client wants, and larger integers overflow
# SQLite's and MariaDB's bind types: refuse with 422 instead.
MAX_OFFSET = 10_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1-500)")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int

    def page(self, items: list[T], total: int) -> Page[T]:
        return Page[T](items=items, total=total, limit=self.limit, offset=self.offset)


def paging(max_offset: int = MAX_OFFSET) -> Callable[..., Awaitable[PageParams]]:
    """The ``?limit=&offset=`` dependency; ``max_offset`` only for an API that documented
    another bound before this one existed."""
    offset_type = Annotated[int, Query(ge=0, le=max_offset, description="Items to skip")]

    async def page_params(limit: Limit = DEFAULT_LIMIT, offset: offset_type = 0) -> PageParams:  # type: ignore[valid-type]
        return PageParams(limit, offset)

    return page_params


Paging = Annotated[PageParams, Depends(paging())]
