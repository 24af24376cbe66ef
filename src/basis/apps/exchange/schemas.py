"""Request and response shapes of the exchange API (the original client's field names)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from basis.core.types import NO_CONTROL, PrintableText, StorableText

ExchangeType = Literal["permanent", "temporary"]
City = Literal["Алматы", "Астана", "Шымкент"]
Status = Literal["proposed", "active", "completed", "declined", "cancelled"]


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


def _distinct_cities(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("cities must be distinct")
    return value


def _number_only(value: Any) -> Any:
    """A JSON number (an integral float such as ``1.0`` too): never ``true`` or a string."""
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_number_only)]
"""An integer as JSON Schema means it: ``1`` and ``1.0``, never ``true`` or ``"1"``."""


def json_int(ge: int, le: int) -> Any:
    """``JsonInt`` within bounds, declared as ``minimum``/``maximum`` (the bounds go on the
    integer itself: on the validator around it they would not reach the schema)."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_number_only)]


LooseId = JsonInt | str
"""An id in a body, as a number or a string; one that names nothing is a 404 (``ids.parse``)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- profile


class Locations(Strict):
    locations: Annotated[list[City], Field(min_length=1, max_length=3)]

    @field_validator("locations")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return _distinct_cities(value)


class LocationsPublic(BaseModel):
    user_id: int
    locations: list[str]


class RatingSummary(BaseModel):
    average_rating: float | None
    total_reviews: int


class ProfilePublic(BaseModel):
    id: int
    user_id: int
    full_name: str | None
    locations: list[str]
    rating: RatingSummary


# --- categories


class CategoryPublic(BaseModel):
    slug: str
    name: str
    group: str
    emoji: str
    sort_order: int


class CategoriesByType(BaseModel):
    permanent: list[CategoryPublic]
    temporary: list[CategoryPublic]


class CategoriesPublic(BaseModel):
    version: str
    description: str | None
    categories: CategoriesByType


class Groups(BaseModel):
    groups: list[str]


# --- listings

ItemName = Annotated[PrintableText, Field(min_length=1, max_length=100)]
Description = Annotated[StorableText, Field(max_length=500)]
Value = json_int(1, 10_000_000)
Days = json_int(1, 365)


class ItemCreate(Strict):
    exchange_type: Annotated[ExchangeType, BeforeValidator(_lower)] = "permanent"
    item_name: ItemName
    value_tenge: Value
    duration_days: Days | None = None
    description: Description | None = None

    @field_validator("item_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _not_blank(value)


class ItemUpdate(Strict):
    item_name: ItemName | None = None
    value_tenge: Value | None = None
    duration_days: Days | None = None
    description: Description | None = None

    @field_validator("item_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _not_blank(value)


Slug = Annotated[str, Field(min_length=1, max_length=50)]


class ListingCreate(Strict):
    wants: dict[Slug, list[ItemCreate]] = Field(default_factory=dict)
    offers: dict[Slug, list[ItemCreate]] = Field(default_factory=dict)
    locations: Annotated[list[City], Field(min_length=1, max_length=3)] | None = None

    @field_validator("locations")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _distinct_cities(value)


class ItemPublic(BaseModel):
    id: int
    user_id: int
    item_type: str
    category: str
    exchange_type: str
    item_name: str
    value_tenge: int
    duration_days: int | None
    daily_rate: float | None
    description: str | None
    created_at: dt.datetime
    archived_at: dt.datetime | None


class ListingCreated(BaseModel):
    status: Literal["success"] = "success"
    listing_id: int
    user_id: int
    items_created: int
    matches_found: int
    wants: dict[str, list[dict[str, Any]]]
    offers: dict[str, list[dict[str, Any]]]
    locations: list[str]
    items: list[ItemPublic]


class ItemList(BaseModel):
    items: list[ItemPublic]
    total: int


class BrowsePage(BaseModel):
    items: list[ItemPublic]
    total: int
    skip: int
    limit: int
    filters_applied: dict[str, Any]


# --- matching and exchanges


class PipelineRequest(Strict):
    user_id: LooseId | None = None


class PipelineResult(BaseModel):
    bilateral_matches: int
    exchange_chains: int
    total_participants: int
    errors: list[str]


class MatchingStatus(BaseModel):
    status: Literal["success"] = "success"
    last_run: dt.datetime | None
    bilateral_matches: int
    chains_discovered: int
    participants_notified: int


class ParticipantPublic(BaseModel):
    user_id: int
    offer_item_id: int
    want_item_id: int
    decision: str
    reason: str | None
    confirmed: bool


class ExchangePublic(BaseModel):
    id: str
    kind: str
    exchange_type: str
    status: str
    score: float
    participants: list[ParticipantPublic]
    items: list[int]
    created_at: dt.datetime
    completed_at: dt.datetime | None


class ExchangePage(BaseModel):
    items: list[ExchangePublic]
    total: int
    skip: int
    limit: int


class MyExchanges(BaseModel):
    exchanges: list[ExchangePublic]
    total: int


class Decision(Strict):
    reason: Annotated[StorableText, Field(max_length=500)] | None = None


class DecisionResult(BaseModel):
    chain_id: str
    user_id: int
    status: Literal["accepted", "declined"]
    exchange_status: str


class ConfirmResult(BaseModel):
    status: Literal["success"] = "success"
    exchange_id: str
    confirmed_by: int
    participants: list[int]
    items_archived: list[int]
    exchange_status: str


class HistoryEvent(BaseModel):
    event_type: str
    user_id: int | None
    created_at: dt.datetime


class History(BaseModel):
    exchange_id: str
    participants: list[int]
    history: list[HistoryEvent]


class NotificationPublic(BaseModel):
    id: int
    user_id: int
    type: str
    payload: dict[str, Any]
    read: bool
    created_at: dt.datetime


class Notifications(BaseModel):
    notifications: list[NotificationPublic]
    count: int


# --- chat


class ChatSend(Strict):
    text: Any = None
    """Checked by the chat service (1-2000 characters, not blank), like a socket frame."""
    message_type: Any = "text"


class ChatMessage(BaseModel):
    id: int
    exchange_id: str
    sender_id: int
    message_text: str
    message_type: str
    is_read: bool
    created_at: dt.datetime


class ChatHistory(BaseModel):
    messages: list[ChatMessage]
    total: int
    unread_count: int


class UnreadCounts(BaseModel):
    total_unread: int
    exchanges: dict[str, int]


class MarkedRead(BaseModel):
    marked_read: int
    exchange_id: str


# --- reviews, reports, moderation

REPORT_REASONS = (
    "price_mismatch",
    "unavailable_item",
    "fake_listing",
    "inappropriate_content",
    "spam",
    "fraud",
    "other",
)
ReportReason = Literal[
    "price_mismatch", "unavailable_item", "fake_listing", "inappropriate_content", "spam", "fraud", "other"
]
Resolution = Literal["listing_removed", "message_removed", "user_warned", "user_banned", "dismissed"]


class ReviewCreate(Strict):
    exchange_id: Annotated[
        PrintableText, Field(min_length=1, max_length=64, json_schema_extra={"pattern": NO_CONTROL})
    ]
    target_user_id: LooseId
    rating: json_int(1, 5)  # type: ignore[valid-type]
    text: Annotated[StorableText, Field(max_length=2000)] | None = None
    is_public: bool = True


class ReviewPublic(BaseModel):
    id: int
    exchange_id: str
    author_id: int
    target_id: int
    rating: int
    text: str | None
    is_public: bool
    created_at: dt.datetime


class UserReviews(BaseModel):
    reviews: list[ReviewPublic]
    summary: RatingSummary


class UserRating(BaseModel):
    user_id: int
    average_rating: float | None
    total_reviews: int
    trust_score: float
    exchanges_completed: int


class Reasons(BaseModel):
    reasons: list[str]


class ReportCreate(Strict):
    target_listing_id: LooseId | None = None
    target_user_id: LooseId | None = None
    target_message_id: LooseId | None = None
    """A chat message of an exchange the reporter takes part in; hidden for the reporter at once."""
    reason: Annotated[ReportReason, BeforeValidator(_lower)]
    description: Annotated[StorableText, Field(max_length=2000)] | None = None
    evidence_urls: (
        Annotated[list[Annotated[StorableText, Field(max_length=500)]], Field(max_length=10)] | None
    ) = None


class ReportPublic(BaseModel):
    id: int
    reporter_id: int
    target_listing_id: int | None
    target_user_id: int | None
    target_message_id: int | None = None
    reason: str
    status: str
    created_at: dt.datetime


class ReportAdmin(ReportPublic):
    description: str | None
    evidence_urls: list[str] | None
    resolution: str | None
    admin_notes: str | None
    resolved_at: dt.datetime | None


class ReportList(BaseModel):
    reports: list[ReportAdmin]
    total: int


class ResolveRequest(Strict):
    resolution: Annotated[Resolution, BeforeValidator(_lower)]
    admin_notes: Annotated[StorableText, Field(max_length=2000)] | None = None


class Resolved(BaseModel):
    report_id: int
    status: Literal["resolved"] = "resolved"
    resolution: str
    resolved_at: dt.datetime


class BanRequest(Strict):
    reason: Annotated[StorableText, Field(min_length=1, max_length=500)]
    duration_days: json_int(1, 3650) | None = None  # type: ignore[valid-type]


class Banned(BaseModel):
    user_id: int
    status: Literal["banned"] = "banned"
    ban_until: dt.datetime | None
    reason: str
