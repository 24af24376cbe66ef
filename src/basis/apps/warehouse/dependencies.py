"""Request-level helpers of the warehouse routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query
from sqlalchemy import select

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse.idempotency import validate_key
from basis.apps.warehouse.models import Product
from basis.core.deps import InfraDep, SessionDep
from basis.core.jobs import JobQueue

MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Pagination:
    limit: int
    offset: int


async def pagination(
    limit: Annotated[int, Query(ge=1, le=500, description="At most 500")] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Pagination:
    return Pagination(limit, offset)


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Makes a call safe to retry: one key, one answer (per user and endpoint).",
        ),
    ] = None,
) -> str | None:
    return validate_key(key)


async def jobs(infra: InfraDep) -> JobQueue:
    return infra.jobs


async def valid_product_id(product_id: Annotated[int, Path(ge=1, le=MAX_ID)], session: SessionDep) -> int:
    if await session.scalar(select(Product.id).where(Product.id == product_id)) is None:
        raise exc.product_not_found(product_id)
    return product_id


PageDep = Annotated[Pagination, Depends(pagination)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
JobsDep = Annotated[JobQueue, Depends(jobs)]
ProductId = Annotated[int, Depends(valid_product_id)]
EntityId = Annotated[int, Path(ge=1, le=MAX_ID)]
