"""The exchange's HTTP API: thin handlers over the services (the original client's paths)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import StreamingResponse

from basis.apps.exchange import (
    categories,
    chat,
    exchanges,
    jobs,
    listings,
    matching,
    moderation,
    notifications,
    notify,
    profiles,
    reviews,
)
from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.dependencies import (
    ExchangeId,
    ExchangeSettingsDep,
    ItemId,
    JobsDep,
    Limit,
    Skip,
    UserId,
    self_or_admin,
)
from basis.apps.exchange.ids import parse_id
from basis.apps.exchange.schemas import (
    REPORT_REASONS,
    Banned,
    BanRequest,
    BrowsePage,
    CategoriesPublic,
    CategoryPublic,
    ChatHistory,
    ChatMessage,
    ChatSend,
    ConfirmResult,
    Decision,
    DecisionResult,
    ExchangePage,
    ExchangePublic,
    ExchangeType,
    Groups,
    History,
    ItemList,
    ItemPublic,
    ItemUpdate,
    ListingCreate,
    ListingCreated,
    Locations,
    LocationsPublic,
    MarkedRead,
    MatchingStatus,
    MyExchanges,
    Notifications,
    PipelineRequest,
    PipelineResult,
    ProfilePublic,
    Reasons,
    ReportCreate,
    ReportList,
    ReportPublic,
    Resolved,
    ResolveRequest,
    ReviewCreate,
    ReviewPublic,
    Status,
    UnreadCounts,
    UserRating,
    UserReviews,
)
from basis.apps.exchange.settings import ExchangeSettings
from basis.apps.exchange.sockets import send_and_publish
from basis.apps.exchange.sockets import serve as serve_chat
from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.jobs import JobQueue
from basis.core.realtime import Hub
from basis.core.realtime.sockets import serve_events
from basis.core.types import NO_CONTROL
from basis.identity.dependencies import request_meta
from basis.identity.deps import CurrentClaims, CurrentUser, OperatorUser
from basis.identity.events import Meta
from basis.identity.sockets import AccessGuard, SocketUser

public_router = APIRouter(tags=["exchange"])
router = APIRouter(tags=["exchange"])

Version = Annotated[str | None, Query(max_length=20, pattern=NO_CONTROL)]
Text = Annotated[str | None, Query(max_length=100, pattern=NO_CONTROL)]
Price = Annotated[int | None, Query(ge=0, le=10_000_000)]
GUARD = AccessGuard(invalid_code=4401, forbidden_code=4403)


_MEANING = {
    401: "not_authenticated",
    403: "forbidden / not_participant",
    404: "not found (exchange, message, listing item, user or report)",
    409: "a conflict with the current state (e.g. exchange_proposed, report_resolved)",
    429: "rate_limited",
    503: "unavailable (a dependency is away; Retry-After)",
}


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error answers of a route for the OpenAPI document, all in the core error shape."""
    return {code: {"description": _MEANING[code]} for code in codes}


async def commit_and_rematch(
    session: AsyncSession, settings: ExchangeSettings, queue: JobQueue, hub: Hub, user_ids: list[int]
) -> None:
    """Commits a listing change and re-matches its owner: in the background through a job staged
    in the same transaction (queued if and only if the change commits, kept in the outbox while
    Redis is away), or now."""
    if settings.rematch_in_background:
        jobs.stage(queue, session, user_ids)
        await session.commit()
        return
    await session.commit()
    outcome = await matching.rematch(session, settings=settings, user_ids=user_ids)
    await notify.proposals(hub, outcome.notifications)


# --- categories (public)


# A version that names no active category version (categories.resolve_version).
_VERSION_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "version_not_found: the version asked for is not an active one"}
}


@public_router.get("/v1/categories", response_model=CategoriesPublic, responses=_VERSION_UNKNOWN)
async def all_categories(session: SessionDep, version: Version = None) -> CategoriesPublic:
    return await categories.all_categories(session, version=version)


@public_router.get("/v1/categories/groups/{exchange_type}", response_model=Groups, responses=_VERSION_UNKNOWN)
async def category_groups(exchange_type: str, session: SessionDep, version: Version = None) -> Groups:
    return Groups(groups=await categories.groups(session, exchange_type=exchange_type, version=version))


@public_router.get(
    "/v1/categories/{exchange_type}", response_model=list[CategoryPublic], responses=_VERSION_UNKNOWN
)
async def categories_of_type(
    exchange_type: str, session: SessionDep, version: Version = None
) -> list[CategoryPublic]:
    return await categories.of_type(session, exchange_type=exchange_type, version=version)


# --- members


@public_router.get("/api/users/{user_id}", response_model=ProfilePublic)
async def public_profile(user_id: UserId, session: SessionDep) -> ProfilePublic:
    await profiles.existing_user(session, user_id)
    return await profiles.public_profile(
        session, user_id=user_id, rating=await reviews.summary(session, user_id)
    )


@router.put("/api/users/{user_id}/locations", response_model=LocationsPublic)
async def set_locations(
    user_id: UserId,
    data: Locations,
    session: SessionDep,
    user: CurrentUser,
    settings: ExchangeSettingsDep,
    queue: JobsDep,
    infra: InfraDep,
) -> LocationsPublic:
    await profiles.existing_user(session, user_id)
    self_or_admin(user, user_id)
    locations = await profiles.set_cities(session, user_id=user_id, cities=data.locations)
    await commit_and_rematch(session, settings, queue, infra.hub, [user_id])
    return LocationsPublic(user_id=user_id, locations=locations)


# --- listings


@router.post(
    "/api/listings/create-by-categories",
    response_model=ListingCreated,
    status_code=201,
    responses=_answers(401, 403, 404, 503),
)
async def create_listing(
    data: ListingCreate,
    session: SessionDep,
    user: CurrentUser,
    settings: ExchangeSettingsDep,
    queue: JobsDep,
    infra: InfraDep,
    user_id: Annotated[str | None, Query(max_length=50)] = None,
) -> ListingCreated:
    owner_id = user.id
    if user_id is not None:
        owner_id = parse_id(user_id, exc.user_not_found)
        await profiles.existing_user(session, owner_id)
        if owner_id != user.id:
            raise exc.not_yours()
    listing, items, locations = await listings.create_batch(session, owner_id=owner_id, data=data)
    await commit_and_rematch(session, settings, queue, infra.hub, [owner_id])
    found = await matching.counts(session, user_id=owner_id)
    echo = data.model_dump(mode="json")
    return ListingCreated(
        listing_id=listing.id,
        user_id=owner_id,
        items_created=len(items),
        matches_found=found.bilateral_matches + found.exchange_chains,
        wants=echo["wants"],
        offers=echo["offers"],
        locations=locations,
        items=[listings.public(i) for i in items],
    )


@router.get("/api/listings/my", response_model=ItemList)
async def my_items(session: SessionDep, user: CurrentUser) -> ItemList:
    items = await listings.active_items_of(session, user.id)
    return ItemList(items=[listings.public(i) for i in items], total=len(items))


@public_router.get("/api/listings/user/{user_id}", response_model=ItemList)
async def items_of_user(user_id: UserId, session: SessionDep) -> ItemList:
    await profiles.existing_user(session, user_id)
    items = await listings.visible_items_of(session, user_id)
    return ItemList(items=[listings.public(i) for i in items], total=len(items))


async def _browse(item_type: str, session: AsyncSession, skip: int, limit: int, **filters: Any) -> BrowsePage:
    return await listings.browse(session, item_type=item_type, skip=skip, limit=limit, filters=filters)


@public_router.get("/api/listings/wants", response_model=BrowsePage)
async def browse_wants(
    session: SessionDep,
    skip: Skip = 0,
    limit: Limit = 20,
    category: Text = None,
    exchange_type: ExchangeType | None = None,
    min_price: Price = None,
    max_price: Price = None,
    city: Text = None,
) -> BrowsePage:
    return await _browse(
        "want", session, skip, limit, category=category, exchange_type=exchange_type,
        min_price=min_price, max_price=max_price, city=city,
    )  # fmt: skip


@public_router.get("/api/listings/offers", response_model=BrowsePage)
async def browse_offers(
    session: SessionDep,
    skip: Skip = 0,
    limit: Limit = 20,
    category: Text = None,
    exchange_type: ExchangeType | None = None,
    min_price: Price = None,
    max_price: Price = None,
    city: Text = None,
) -> BrowsePage:
    return await _browse(
        "offer", session, skip, limit, category=category, exchange_type=exchange_type,
        min_price=min_price, max_price=max_price, city=city,
    )  # fmt: skip


@router.get("/api/listings/items/{item_id}", response_model=ItemPublic)
async def get_item(item_id: ItemId, session: SessionDep, user: CurrentUser) -> ItemPublic:
    return listings.public(await listings.owned_item(session, item_id=item_id, user_id=user.id))


@router.patch("/api/listings/items/{item_id}", response_model=ItemPublic)
async def update_item(
    item_id: ItemId,
    data: ItemUpdate,
    session: SessionDep,
    user: CurrentUser,
    settings: ExchangeSettingsDep,
    queue: JobsDep,
    infra: InfraDep,
) -> ItemPublic:
    item = await listings.update_item(session, item_id=item_id, user_id=user.id, data=data)
    await commit_and_rematch(session, settings, queue, infra.hub, [item.user_id])
    return listings.public(item)


@router.delete("/api/listings/items/{item_id}", status_code=204)
async def archive_item(
    item_id: ItemId,
    session: SessionDep,
    user: CurrentUser,
    settings: ExchangeSettingsDep,
    queue: JobsDep,
    infra: InfraDep,
) -> Response:
    owner_id = user.id
    await exchanges.archive(session, item_id=item_id, user_id=owner_id)
    await commit_and_rematch(session, settings, queue, infra.hub, [owner_id])
    return Response(status_code=204)


# --- matching


@router.post("/api/matching/run-pipeline", response_model=PipelineResult, responses=_answers(404))
async def run_pipeline(
    session: SessionDep,
    user: CurrentUser,
    settings: ExchangeSettingsDep,
    infra: InfraDep,
    data: PipelineRequest | None = None,
) -> PipelineResult:
    requested = data.user_id if data is not None else None
    scope: int | None
    if requested is None:
        # Everyone for an admin; a member's own proposals otherwise.
        scope = None if user.role == "admin" else user.id
    else:
        scope = parse_id(requested, exc.user_not_found)
        await profiles.existing_user(session, scope)
        self_or_admin(user, scope)
    outcome = await matching.rematch(session, settings=settings, user_ids=None if scope is None else [scope])
    await notify.proposals(infra.hub, outcome.notifications)
    result = await matching.counts(session, user_id=scope)
    if outcome.truncated:
        result.errors.append("matching stopped at its safety bound; some proposals may be missing")
    return result


@router.get("/api/matching/status", response_model=MatchingStatus)
async def matching_status(session: SessionDep, user: CurrentUser) -> MatchingStatus:
    return await matching.status(session)


@router.get("/api/matching/find-matches/{user_id}", response_model=list[ExchangePublic])
async def find_matches(user_id: UserId, session: SessionDep, user: CurrentUser) -> list[ExchangePublic]:
    await profiles.existing_user(session, user_id)
    self_or_admin(user, user_id)
    found, _ = await exchanges.page(session, user_id=user_id, statuses=("proposed", "active"))
    return found


# --- chains and exchanges


@router.get("/api/chains/all", response_model=ExchangePage)
async def all_chains(
    session: SessionDep, user: CurrentUser, status: Status | None = None, skip: Skip = 0, limit: Limit = 20
) -> ExchangePage:
    if user.role != "admin":
        raise exc.Forbidden("Only admins see every exchange", code="forbidden")
    items, total = await exchanges.page(
        session, user_id=None, statuses=None if status is None else [status], skip=skip, limit=limit
    )
    return ExchangePage(items=items, total=total, skip=skip, limit=limit)


@router.get("/api/chains/user/{user_id}", response_model=ExchangePage)
async def chains_of_user(
    user_id: UserId,
    session: SessionDep,
    user: CurrentUser,
    status: Status | None = None,
    skip: Skip = 0,
    limit: Limit = 20,
) -> ExchangePage:
    await profiles.existing_user(session, user_id)
    self_or_admin(user, user_id)
    items, total = await exchanges.page(
        session, user_id=user_id, statuses=None if status is None else [status], skip=skip, limit=limit
    )
    return ExchangePage(items=items, total=total, skip=skip, limit=limit)


@router.post("/api/chains/{exchange_id}/accept", response_model=DecisionResult)
async def accept(exchange_id: ExchangeId, session: SessionDep, user: CurrentUser) -> DecisionResult:
    user_id = user.id
    result = await exchanges.accept(session, exchange_id=exchange_id, user_id=user_id)
    await session.commit()
    return result


@router.post("/api/chains/{exchange_id}/decline", response_model=DecisionResult)
async def decline(
    exchange_id: ExchangeId, session: SessionDep, user: CurrentUser, data: Decision | None = None
) -> DecisionResult:
    user_id = user.id
    reason = data.reason if data is not None else None
    result = await exchanges.decline(session, exchange_id=exchange_id, user_id=user_id, reason=reason)
    await session.commit()
    return result


@router.get("/api/exchanges/my-exchanges", response_model=MyExchanges)
async def my_exchanges(session: SessionDep, user: CurrentUser, status: Status | None = None) -> MyExchanges:
    items, total = await exchanges.page(
        session, user_id=user.id, statuses=None if status is None else [status]
    )
    return MyExchanges(exchanges=items, total=total)


@router.get("/api/exchanges/{exchange_id}", response_model=ExchangePublic)
async def get_exchange(exchange_id: ExchangeId, session: SessionDep, user: CurrentUser) -> ExchangePublic:
    return await exchanges.get(session, exchange_id=exchange_id, user=user)


@router.get("/api/exchanges/{exchange_id}/history", response_model=History)
async def exchange_history(exchange_id: ExchangeId, session: SessionDep, user: CurrentUser) -> History:
    return await exchanges.history(session, exchange_id=exchange_id, user=user)


@router.post(
    "/api/exchanges/{exchange_id}/confirm",
    response_model=ConfirmResult,
    responses=_answers(401, 403, 404, 409, 503),
)
async def confirm(exchange_id: ExchangeId, session: SessionDep, user: CurrentUser) -> ConfirmResult:
    user_id = user.id
    result = await exchanges.confirm(session, exchange_id=exchange_id, user_id=user_id)
    await session.commit()
    return result


# --- notifications and the event stream


@router.get("/api/notifications/", response_model=Notifications)
@router.get("/api/notifications", response_model=Notifications, include_in_schema=False)
async def my_notifications(session: SessionDep, user: CurrentUser) -> Notifications:
    return await notifications.of_user(session, user_id=user.id)


# Not in the OpenAPI document: an endless event stream is not a request/response call.
@router.get("/api/events/stream", response_class=StreamingResponse, include_in_schema=False)
async def event_stream(
    request: Request, user: CurrentUser, claims: CurrentClaims, infra: InfraDep
) -> StreamingResponse:
    principal = SocketUser(user.id, claims.sid, user.role, str(user), request.app.state.db.sessionmaker)
    return serve_events(hub=infra.hub, guard=GUARD, principal=principal, topics=[notify.user_topic(user.id)])


# --- chat


@router.post(
    "/api/chat/exchange/{exchange_id}/messages",
    response_model=ChatMessage,
    status_code=201,
    responses=_answers(401, 403, 404, 503),
)
async def send_message(
    exchange_id: ExchangeId, data: ChatSend, request: Request, session: SessionDep, user: CurrentUser
) -> ChatMessage:
    body = await send_and_publish(
        session,
        request.app,
        exchange_id=exchange_id,
        sender_id=user.id,
        text=data.text,
        message_type=data.message_type,
    )
    return ChatMessage(**body)


@router.get("/api/chat/exchange/{exchange_id}/history", response_model=ChatHistory)
async def chat_history(
    exchange_id: ExchangeId, session: SessionDep, user: CurrentUser, skip: Skip = 0, limit: Limit = 50
) -> ChatHistory:
    return ChatHistory(
        **await chat.history(session, exchange_id=exchange_id, user_id=user.id, skip=skip, limit=limit)
    )


@router.get("/api/chat/unread-counts", response_model=UnreadCounts)
async def unread_counts(session: SessionDep, user: CurrentUser) -> UnreadCounts:
    return UnreadCounts(**await chat.unread_counts(session, user_id=user.id))


@router.post("/api/chat/exchange/{exchange_id}/mark-read", response_model=MarkedRead)
async def mark_read(exchange_id: ExchangeId, session: SessionDep, user: CurrentUser) -> MarkedRead:
    user_id = user.id
    result = await chat.mark_read(session, exchange_id=exchange_id, user_id=user_id)
    await session.commit()
    return MarkedRead(**result)


@public_router.websocket("/ws/exchange/{exchange_id}")
async def chat_socket(websocket: WebSocket, exchange_id: str) -> None:
    await serve_chat(websocket, exchange_id)


# --- reviews


@router.post("/api/reviews", response_model=ReviewPublic, status_code=201, responses=_answers(404))
async def create_review(
    data: ReviewCreate, session: SessionDep, user: CurrentUser, settings: ExchangeSettingsDep
) -> ReviewPublic:
    author_id = user.id
    target_id = parse_id(data.target_user_id, exc.user_not_found)
    await profiles.existing_user(session, target_id)
    review = await reviews.create(
        session, author_id=author_id, target_id=target_id, data=data, per_hour=settings.reviews_per_hour
    )
    await session.commit()
    return reviews.public(review)


@public_router.get("/api/reviews/users/{user_id}", response_model=UserReviews)
async def reviews_of_user(user_id: UserId, session: SessionDep) -> UserReviews:
    await profiles.existing_user(session, user_id)
    items, summary = await reviews.of_user(session, user_id=user_id)
    return UserReviews(reviews=items, summary=summary)


@public_router.get("/api/reviews/users/{user_id}/rating", response_model=UserRating)
async def rating_of_user(user_id: UserId, session: SessionDep) -> UserRating:
    return await reviews.rating(session, user=await profiles.existing_user(session, user_id))


# --- reports and moderation


@public_router.get("/api/reports/reasons", response_model=Reasons)
async def report_reasons() -> Reasons:
    return Reasons(reasons=list(REPORT_REASONS))


@router.post(
    "/api/reports", response_model=ReportPublic, status_code=201, responses=_answers(401, 403, 404, 429, 503)
)
async def create_report(
    data: ReportCreate, session: SessionDep, user: CurrentUser, settings: ExchangeSettingsDep
) -> ReportPublic:
    row = await moderation.report(session, reporter_id=user.id, data=data, per_hour=settings.reports_per_hour)
    await session.commit()
    return ReportPublic.model_validate(moderation.admin_view(row), from_attributes=True)


@router.get("/api/admin/reports", response_model=ReportList)
async def report_queue(
    session: SessionDep, user: OperatorUser, status: Literal["pending", "resolved"] | None = None
) -> ReportList:
    items, total = await moderation.queue(session, status=status)
    return ReportList(reports=items, total=total)


MetaDep = Annotated[Meta, Depends(request_meta)]


@router.post(
    "/api/admin/reports/{report_id}/resolve",
    response_model=Resolved,
    responses=_answers(401, 403, 404, 409, 503),
)
async def resolve_report(
    report_id: Annotated[str, Path(max_length=50)],
    data: ResolveRequest,
    session: SessionDep,
    user: OperatorUser,
    core: SettingsDep,
    infra: InfraDep,
    meta: MetaDep,
) -> Resolved:
    number = parse_id(report_id, exc.report_not_found)
    row = await moderation.resolve(
        session, report_id=number, data=data, actor=user, settings=core, infra=infra, meta=meta
    )
    answer = Resolved(report_id=row.id, resolution=data.resolution, resolved_at=row.resolved_at)
    await session.commit()
    return answer


@router.post("/api/admin/users/{user_id}/ban", response_model=Banned)
async def ban_user(
    user_id: UserId,
    data: BanRequest,
    session: SessionDep,
    user: OperatorUser,
    core: SettingsDep,
    infra: InfraDep,
    meta: MetaDep,
) -> Banned:
    row = await moderation.ban(
        session, user_id=user_id, data=data, actor=user, settings=core, infra=infra, meta=meta
    )
    return Banned(user_id=user_id, ban_until=row.ban_until, reason=row.reason)
