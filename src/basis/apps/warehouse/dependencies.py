"""Request-level helpers of the warehouse routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import select

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse.models import IdempotencyKey, Product
from basis.apps.warehouse.movement_writer import MovementWriter
from basis.core.deps import InfraDep, SessionDep
from basis.core.idempotency import IdempotencyStore, validate_key
from basis.core.jobs import JobQueue
from basis.core.pagination import PageParams, paging
from basis.core.types import Id

KEYS = IdempotencyStore(IdempotencyKey, scope=("user_id", "endpoint"))
"""One answer per user, endpoint and Idempotency-Key (W5)."""


KEY_HEADER = "Idempotency-Key"
_KEY_RULES = {"max_length": 200, "pattern": r"^[!-~]{1,200}$"}
_KEY_DESCRIPTION = "Makes a call safe to retry: one key, one answer (per user and endpoint)."


async def idempotency_key(
    key: Annotated[str | None, Header(alias=KEY_HEADER, description=_KEY_DESCRIPTION, **_KEY_RULES)] = None,
) -> str | None:
    return validate_key(key)


_KEY_VALUE: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(**_KEY_RULES)])  # type: ignore[call-overload]
KEY_PARAMETER = {
    "name": KEY_HEADER,
    "in": "header",
    "required": False,
    "schema": {
        "anyOf": [{"type": "string", **_KEY_VALUE.json_schema()}, {"type": "null"}],
        "description": _KEY_DESCRIPTION,
        "title": KEY_HEADER,
    },
    "description": _KEY_DESCRIPTION,
}
"""``idempotency_key``'s header as FastAPI documents it, for a route that reads it by hand."""


def read_idempotency_key(request: Request) -> tuple[str | None, list[dict[str, Any]]]:
    """``idempotency_key`` by hand: the key, or the field errors FastAPI would report for it."""
    value = request.headers.get(KEY_HEADER)
    if value is None:
        return None, []
    try:
        _KEY_VALUE.validate_python(value)
    except ValidationError as error:
        return None, [{**e, "loc": ("header", KEY_HEADER)} for e in error.errors(include_url=False)]
    return validate_key(value), []


async def jobs(infra: InfraDep) -> JobQueue:
    return infra.jobs


async def movement_writer(request: Request) -> MovementWriter:
    """The process's movement writer, made at start-up (``app.start_writer``)."""
    state = request.app.state
    writer: MovementWriter | None = getattr(state, "warehouse_movements", None)
    if writer is None:
        writer = state.warehouse_movements = MovementWriter(state.db.sessionmaker, KEYS, state.infra.jobs)
    return writer


async def valid_product_id(product_id: Id, session: SessionDep) -> int:
    if await session.scalar(select(Product.id).where(Product.id == product_id)) is None:
        raise exc.product_not_found(product_id)
    return product_id


# The warehouse documented offsets up to 10^9 before the core bound existed.
PageDep = Annotated[PageParams, Depends(paging(max_offset=10**9))]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
JobsDep = Annotated[JobQueue, Depends(jobs)]
ProductId = Annotated[int, Depends(valid_product_id)]
EntityId = Id
