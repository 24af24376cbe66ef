"""The warehouse's HTTP API: thin handlers over the service (paths of the original kept)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, TypeAdapter

from basis.apps.warehouse import catalogue, checks, ledger, movements, reports, stock
from basis.apps.warehouse.dependencies import (
    KEY_PARAMETER,
    KEYS,
    EntityId,
    IdempotencyKey,
    JobsDep,
    PageDep,
    ProductId,
    movement_writer,
    read_idempotency_key,
)
from basis.apps.warehouse.schemas import (
    INSTANT_PATTERN,
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    CheckCreate,
    CheckLines,
    CheckPublic,
    CheckStatus,
    CheckSummary,
    Items,
    LocationCreate,
    LocationPublic,
    LocationUpdate,
    MovementCreate,
    MovementPublic,
    MovementType,
    ProductCreate,
    ProductPublic,
    ProductStock,
    ProductUpdate,
    StockRow,
    TransferCreate,
    TransferPublic,
)
from basis.apps.warehouse.types import STEP
from basis.core.deps import SessionDep, SettingsDep
from basis.core.http import decode_json_body, documented_body, validate_body
from basis.core.idempotency import Answer, Done, run_once
from basis.core.pagination import Page
from basis.core.time import parse_instant, utcnow
from basis.core.types import Id
from basis.identity.deps import BEARER_SCHEME, AdminUser, OperatorUser, caller_with_role
from basis.identity.models import User

router = APIRouter(tags=["warehouse"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown product, location, category or check"},
    409: {
        "description": "insufficient_stock, product_archived, idempotency_conflict, duplicate_*, check state"
    },
    422: {"description": "Invalid input (quantity, precision for the unit, ...)"},
}
SearchText = Annotated[str | None, Query(max_length=200)]
OptionalId = Id | None


T = TypeVar("T")


def _fingerprint(data: BaseModel) -> dict[str, Any]:
    # Quantities as fixed-point text: 5, 5.0 and "5.000" are the same request.
    values = data.model_dump()
    return {k: format(v.quantize(STEP)) if isinstance(v, Decimal) else v for k, v in values.items()}


def _created(model: BaseModel) -> Answer:
    return Answer(201, model.model_dump(mode="json", by_alias=True))


async def _once(
    session: SessionDep,
    user: User,
    endpoint: str,
    key: str | None,
    data: BaseModel,
    work: Callable[[int], Awaitable[T]],
    answer: Callable[[T], Answer],
) -> Done[T]:
    """W5: ``work(actor_id)`` done and committed once per key; a retry gets the stored answer."""
    # Read once: a transaction run again follows a rollback, which expires the user's row.
    actor_id = user.id
    return await run_once(
        session,
        KEYS,
        scope={"user_id": actor_id, "endpoint": endpoint},
        key=key,
        payload=_fingerprint(data),
        work=lambda: work(actor_id),
        answer=answer,
        on_retry=ledger.log_retry,
    )


def _answer(answer: Answer) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


# --- products (the original's paths: /products, /products/{id}, /products/qr/{code})


@router.get("/products", response_model=Page[ProductPublic])
@router.get("/products/", response_model=Page[ProductPublic], include_in_schema=False)
async def list_products(
    session: SessionDep,
    user: OperatorUser,
    page: PageDep,
    q: SearchText = None,
    category_id: OptionalId = None,
    low_stock: bool = False,
    include_archived: bool = False,
) -> Page[ProductPublic]:
    return await catalogue.list_products(
        session=session,
        limit=page.limit,
        offset=page.offset,
        q=q,
        category_id=category_id,
        low_stock=low_stock,
        include_archived=include_archived,
    )


@router.post("/products", response_model=ProductPublic, status_code=201, responses=ERRORS)
@router.post("/products/", response_model=ProductPublic, status_code=201, include_in_schema=False)
async def create_product(
    data: ProductCreate, session: SessionDep, user: AdminUser, key: IdempotencyKey
) -> Response:
    def work(actor_id: int) -> Awaitable[ProductPublic]:
        return catalogue.create_product(session=session, data=data, actor_id=actor_id, idempotency_key=key)

    return _answer((await _once(session, user, "POST /products", key, data, work, _created)).answer)


@router.get("/products/qr/{qr_code:path}", response_model=ProductPublic, responses=ERRORS)
async def product_by_qr(qr_code: str, session: SessionDep, user: OperatorUser) -> ProductPublic:
    return await catalogue.find_product(session=session, qr_code=qr_code)


@router.get("/products/barcode/{code:path}", response_model=ProductPublic, responses=ERRORS)
async def product_by_barcode(code: str, session: SessionDep, user: OperatorUser) -> ProductPublic:
    return await catalogue.find_product(session=session, barcode=code)


@router.get("/products/{product_id}", response_model=ProductPublic, responses=ERRORS)
async def get_product(product_id: EntityId, session: SessionDep, user: OperatorUser) -> ProductPublic:
    return await catalogue.get_product(session=session, product_id=product_id)


@router.patch("/products/{product_id}", response_model=ProductPublic, responses=ERRORS)
async def update_product(
    product_id: EntityId, data: ProductUpdate, session: SessionDep, user: AdminUser
) -> ProductPublic:
    return await catalogue.update_product(session=session, product_id=product_id, data=data, actor=user)


@router.delete(
    "/products/{product_id}",
    status_code=204,
    responses={200: {"model": ProductPublic, "description": "Had history: archived instead"}, **ERRORS},
)
async def delete_product(product_id: EntityId, session: SessionDep, user: AdminUser) -> Response:
    archived = await catalogue.delete_product(session=session, product_id=product_id, actor=user)
    if archived is None:
        return Response(status_code=204)
    return JSONResponse(archived.model_dump(mode="json"), status_code=200)


@router.get("/products/{product_id}/movements", response_model=Page[MovementPublic], responses=ERRORS)
async def product_movements(
    product_id: ProductId, session: SessionDep, user: OperatorUser, page: PageDep
) -> Page[MovementPublic]:
    return await movements.list_movements(
        session=session, limit=page.limit, offset=page.offset, product_id=product_id
    )


@router.get("/products/{product_id}/stock", response_model=ProductStock, responses=ERRORS)
async def product_stock(product_id: EntityId, session: SessionDep, user: OperatorUser) -> ProductStock:
    return await catalogue.product_stock(session=session, product_id=product_id)


# --- categories


@router.get("/categories", response_model=Page[CategoryPublic])
async def list_categories(
    session: SessionDep, user: OperatorUser, page: PageDep, parent_id: OptionalId = None, q: SearchText = None
) -> Page[CategoryPublic]:
    return await catalogue.list_categories(
        session=session, limit=page.limit, offset=page.offset, parent_id=parent_id, q=q
    )


@router.post("/categories", response_model=CategoryPublic, status_code=201, responses=ERRORS)
async def create_category(data: CategoryCreate, session: SessionDep, user: AdminUser) -> CategoryPublic:
    return await catalogue.create_category(session=session, data=data, actor=user)


@router.get("/categories/{category_id}", response_model=CategoryPublic, responses=ERRORS)
async def get_category(category_id: EntityId, session: SessionDep, user: OperatorUser) -> CategoryPublic:
    return await catalogue.get_category(session=session, category_id=category_id)


@router.patch("/categories/{category_id}", response_model=CategoryPublic, responses=ERRORS)
async def update_category(
    category_id: EntityId, data: CategoryUpdate, session: SessionDep, user: AdminUser
) -> CategoryPublic:
    return await catalogue.update_category(session=session, category_id=category_id, data=data, actor=user)


@router.delete("/categories/{category_id}", status_code=204, responses=ERRORS)
async def delete_category(category_id: EntityId, session: SessionDep, user: AdminUser) -> Response:
    await catalogue.delete_category(session=session, category_id=category_id, actor=user)
    return Response(status_code=204)


# --- locations


@router.get("/locations", response_model=Page[LocationPublic])
async def list_locations(session: SessionDep, user: OperatorUser, page: PageDep) -> Page[LocationPublic]:
    return await catalogue.list_locations(session=session, limit=page.limit, offset=page.offset)


@router.post("/locations", response_model=LocationPublic, status_code=201, responses=ERRORS)
async def create_location(data: LocationCreate, session: SessionDep, user: AdminUser) -> LocationPublic:
    return await catalogue.create_location(session=session, data=data, actor=user)


@router.get("/locations/{location_id}", response_model=LocationPublic, responses=ERRORS)
async def get_location(location_id: EntityId, session: SessionDep, user: OperatorUser) -> LocationPublic:
    return await catalogue.get_location(session=session, location_id=location_id)


@router.patch("/locations/{location_id}", response_model=LocationPublic, responses=ERRORS)
async def update_location(
    location_id: EntityId, data: LocationUpdate, session: SessionDep, user: AdminUser
) -> LocationPublic:
    return await catalogue.update_location(session=session, location_id=location_id, data=data, actor=user)


# --- the ledger (append-only: no PUT, PATCH or DELETE route exists, so those answer 405)


# The hot path: a scanner's or a shop's movements by the thousand. The route reads its caller,
# its key and its body by hand (as TimeTracker's scans do), before and without FastAPI's
# dependency machinery, which costs more than deciding the movement; answers and docs are the
# ones FastAPI would give. It is matched before every other route (``hot_router``).
hot_router = APIRouter(tags=["warehouse"])
_MOVEMENT_IN = TypeAdapter(MovementCreate)


@hot_router.post(
    "/stock-movements",
    response_model=MovementPublic,
    status_code=201,
    responses=ERRORS,
    openapi_extra=documented_body(MovementCreate, BEARER_SCHEME, parameters=[KEY_PARAMETER], component=True),
)
async def record_movement(request: Request) -> Response:
    # FastAPI's order: the body decoded (400, 422), the caller (401, 403), then the header's
    # and the body's field errors in one 422.
    body = await decode_json_body(request)
    user = await caller_with_role(request, "operator")
    key, problems = read_idempotency_key(request)
    try:
        data = validate_body(body, _MOVEMENT_IN)
    except RequestValidationError as error:
        raise RequestValidationError([*problems, *error.errors()]) from None
    if problems:
        raise RequestValidationError(problems)
    # Decided with the movements that arrive beside it, in one transaction (movement_writer).
    payload = _fingerprint(data) if key is not None else None
    writer = await movement_writer(request)
    return _answer(await writer.submit(data, actor_id=user.id, key=key, payload=payload))


@router.post("/stock-movements/transfer", response_model=TransferPublic, status_code=201, responses=ERRORS)
async def transfer(
    data: TransferCreate, session: SessionDep, user: OperatorUser, key: IdempotencyKey
) -> Response:
    def work(actor_id: int) -> Awaitable[TransferPublic]:
        return movements.transfer(session=session, data=data, actor_id=actor_id, idempotency_key=key)

    done = await _once(session, user, "POST /stock-movements/transfer", key, data, work, _created)
    return _answer(done.answer)


@router.get("/stock-movements", response_model=Page[MovementPublic], responses=ERRORS)
async def list_movements(
    session: SessionDep,
    settings: SettingsDep,
    user: OperatorUser,
    page: PageDep,
    product_id: OptionalId = None,
    location_id: OptionalId = None,
    movement_type: MovementType | None = None,
    user_id: OptionalId = None,
    since: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=64,
            pattern=INSTANT_PATTERN,
            description="ISO-8601 date or date-time; without offset: site time",
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(alias="to", max_length=64, pattern=INSTANT_PATTERN, description="ISO-8601, exclusive"),
    ] = None,
) -> Page[MovementPublic]:
    return await movements.list_movements(
        session=session,
        limit=page.limit,
        offset=page.offset,
        product_id=product_id,
        location_id=location_id,
        movement_type=movement_type,
        user_id=user_id,
        since=parse_instant(since, settings.timezone) if since else None,
        until=parse_instant(until, settings.timezone) if until else None,
    )


@router.get("/stock-movements/{movement_id}", response_model=MovementPublic, responses=ERRORS)
async def get_movement(movement_id: EntityId, session: SessionDep, user: OperatorUser) -> MovementPublic:
    return await movements.get_movement(session=session, movement_id=movement_id)


# --- inventory checks


@router.post("/inventory-checks", response_model=CheckPublic, status_code=201, responses=ERRORS)
async def create_check(
    data: CheckCreate, session: SessionDep, user: OperatorUser, key: IdempotencyKey
) -> Response:
    def work(actor_id: int) -> Awaitable[CheckPublic]:
        return checks.create_check(session=session, data=data, actor_id=actor_id)

    return _answer((await _once(session, user, "POST /inventory-checks", key, data, work, _created)).answer)


@router.get("/inventory-checks", response_model=Page[CheckSummary])
async def list_checks(
    session: SessionDep,
    user: OperatorUser,
    page: PageDep,
    status: CheckStatus | None = None,
    location_id: OptionalId = None,
) -> Page[CheckSummary]:
    return await checks.list_checks(
        session=session, limit=page.limit, offset=page.offset, status=status, location_id=location_id
    )


@router.get("/inventory-checks/{check_id}", response_model=CheckPublic, responses=ERRORS)
async def get_check(check_id: EntityId, session: SessionDep, user: OperatorUser) -> CheckPublic:
    return await checks.get_check(session=session, check_id=check_id)


@router.put("/inventory-checks/{check_id}/lines", response_model=CheckPublic, responses=ERRORS)
async def set_check_lines(
    check_id: EntityId, data: CheckLines, session: SessionDep, user: OperatorUser
) -> CheckPublic:
    return await checks.set_check_lines(session=session, check_id=check_id, data=data, actor=user)


@router.post("/inventory-checks/{check_id}/confirm", response_model=CheckPublic, responses=ERRORS)
async def confirm_check(
    check_id: EntityId, session: SessionDep, user: OperatorUser, jobs: JobsDep
) -> CheckPublic:
    return await checks.confirm_check(session=session, check_id=check_id, actor=user, jobs=jobs)


@router.post("/inventory-checks/{check_id}/cancel", response_model=CheckPublic, responses=ERRORS)
async def cancel_check(check_id: EntityId, session: SessionDep, user: AdminUser) -> CheckPublic:
    return await checks.cancel_check(session=session, check_id=check_id, actor=user)


# --- reports


@router.get(
    "/reports/stock",
    response_model=Items[StockRow],
    responses={
        200: {
            "content": {reports.CSV_MEDIA_TYPE: {}, reports.XLSX_MEDIA_TYPE: {}},
            "description": "JSON, or the same rows as CSV (';', UTF-8 BOM) or XLSX with ?format=",
        }
    },
)
async def stock_report(
    request: Request,
    user: OperatorUser,
    format: Literal["json", "csv", "xlsx"] = "json",
    location_id: OptionalId = None,
) -> Response:
    # Streamed from a server-side cursor in a session of its own: the body is written after
    # this handler returns, so memory stays flat at any number of products.
    sessionmaker = request.app.state.db.sessionmaker

    async def chunks() -> reports.Chunks:
        async with sessionmaker() as session:
            async for rows in stock.stream_stock_rows(session, location_id):
                yield rows

    async def json_chunks() -> AsyncIterator[list[str]]:
        async with sessionmaker() as session:
            async for objects in stock.stream_stock_json(session, location_id):
                yield objects

    if format == "json":
        if request.app.state.db.backend in ("postgresql", "mysql"):
            body = reports.json_text_stream(json_chunks())
        else:
            body = reports.json_stream(chunks())
        return StreamingResponse(body, media_type="application/json")
    headers = {"Content-Disposition": f'attachment; filename="stock-{utcnow():%Y%m%d}.{format}"'}
    if format == "csv":
        return StreamingResponse(
            reports.csv_stream(chunks()), media_type=reports.CSV_MEDIA_TYPE, headers=headers
        )
    handle, name = tempfile.mkstemp(prefix="basis-stock-", suffix=".xlsx")
    os.close(handle)
    path = Path(name)
    try:
        await reports.xlsx_file(reports.spooled(chunks()), path)
    except BaseException:
        await asyncio.to_thread(path.unlink, True)
        raise
    return StreamingResponse(reports.file_stream(path), media_type=reports.XLSX_MEDIA_TYPE, headers=headers)


@router.get("/reports/low-stock", response_model=Items[ProductPublic])
async def low_stock_report(session: SessionDep, user: OperatorUser) -> Items[ProductPublic]:
    return Items[ProductPublic](items=await stock.low_stock(session=session))


@router.get("/reports/overstock", response_model=Items[ProductPublic])
async def overstock_report(session: SessionDep, user: OperatorUser) -> Items[ProductPublic]:
    return Items[ProductPublic](items=await stock.overstock(session=session))
