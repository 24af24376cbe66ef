"""Request and response bodies of the warehouse API."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from basis.apps.warehouse.types import MAX_QUANTITY, SCALE, STEP, UNITS, as_number
from basis.core.types import Id, storable_text

T = TypeVar("T")

Unit = Literal["pcs", "pack", "box", "kg", "g", "l", "ml", "m"]
assert set(Unit.__args__) == set(UNITS)  # type: ignore[attr-defined]
MovementType = Literal["incoming", "outgoing", "adjustment", "transfer_out", "transfer_in"]
RecordableType = Literal["incoming", "outgoing", "adjustment"]
CheckStatus = Literal["open", "confirmed", "cancelled"]


def _check_quantity(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -SCALE:
        raise PydanticCustomError(
            "decimal_max_places",
            "Decimal input should have no more than {places} decimal places",
            {"places": SCALE},
        )
    if abs(value) >= MAX_QUANTITY:
        raise PydanticCustomError("quantity_too_large", "Quantity must be below 10^12")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("greater_than", "Input should be greater than 0", {"gt": 0})
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise PydanticCustomError(
            "greater_than_equal", "Input should be greater than or equal to 0", {"ge": 0}
        )
    return value


# A quantity as a decimal string: plain digits (at most 12 before the point, at most 3 after),
# no exponent, no spaces. The string branch of each quantity's schema declares it and the server
# refuses any other string, so a client reads the rule from the document.
_FRACTION = r"(\.\d{0,3})?"
SIGNED_PATTERN = rf"^[+-]?(\d{{1,12}}{_FRACTION}|\.\d{{1,3}})$"
NON_NEGATIVE_PATTERN = rf"^\+?(\d{{1,12}}{_FRACTION}|\.\d{{1,3}})$"
POSITIVE_PATTERN = rf"^\+?(0*[1-9]\d{{0,11}}{_FRACTION}|0*\.([1-9]\d{{0,2}}|0[1-9]\d?|00[1-9]))$"


def _quantity_text(pattern: str) -> BeforeValidator:
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise PydanticCustomError(
                "decimal_text",
                "A quantity as text is a plain decimal: digits, at most 3 after the point",
            )
        return value

    return BeforeValidator(check)


_LARGEST = float(MAX_QUANTITY - STEP)
"""The largest quantity (999999999999.999): inclusive bounds, exact as a double, three places."""


def _quantity_schema(pattern: str, low: float) -> WithJsonSchema:
    number = {"type": "number", "minimum": low, "maximum": _LARGEST}
    return WithJsonSchema({"anyOf": [number, {"type": "string", "pattern": pattern}]})


_number_out = PlainSerializer(as_number, return_type=int | float, when_used="json")
_Quantity = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_check_quantity)]
QuantityIn = Annotated[
    _Quantity,
    _quantity_text(SIGNED_PATTERN),
    _quantity_schema(SIGNED_PATTERN, -_LARGEST),
]
"""A JSON number or a decimal string, at most three decimal places."""
PositiveQuantity = Annotated[
    _Quantity,
    AfterValidator(_positive),
    _quantity_text(POSITIVE_PATTERN),
    _quantity_schema(POSITIVE_PATTERN, float(STEP)),
]
NonNegativeQuantity = Annotated[
    _Quantity,
    AfterValidator(_non_negative),
    _quantity_text(NON_NEGATIVE_PATTERN),
    _quantity_schema(NON_NEGATIVE_PATTERN, 0),
]
QuantityOut = Annotated[Decimal, _number_out]


_storable = AfterValidator(storable_text)
NON_BLANK = r"^[\s\S]*\S[\s\S]*$"
"""Stripped, then required: at least one character that is not a space."""
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    _storable,
    Field(json_schema_extra={"pattern": NON_BLANK}),
]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$"), _storable
]
QrCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), _storable]
Text = Annotated[str, StringConstraints(max_length=10_000), _storable]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), _storable]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), _storable]


# A range bound of the movement list, as parse_instant reads it and as the schema declares it:
# an ISO date, or a date-time with or without seconds, fraction and offset.
_DAY = r"(000[1-9]|00[1-9]\d|0[1-9]\d{2}|[1-9]\d{3})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_CLOCK = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
_OFFSET = r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)"
INSTANT_PATTERN = rf"^{_DAY}([T ]{_CLOCK}{_OFFSET}?)?$"


class Items(BaseModel, Generic[T]):
    items: list[T]


# --- categories


class CategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    parent_id: Id | None = None
    description: Text | None = None


class CategoryUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    parent_id: Id | None = None
    description: Text | None = None


class CategoryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    parent_id: int | None
    description: str | None


# --- locations


class LocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    parent_id: Id | None = None
    description: Text | None = None
    is_default: StrictBool = False


class LocationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    parent_id: Id | None = None
    description: Text | None = None
    is_default: Literal[True] | None = None
    """Make this the default location (the previous default stops being one)."""


class LocationPublic(BaseModel):
    id: int
    name: str
    parent_id: int | None
    description: str | None
    is_default: bool


# --- products


class _Limits(BaseModel):
    @model_validator(mode="after")
    def _max_not_below_min(self) -> _Limits:
        low = getattr(self, "min_quantity", None)
        high = getattr(self, "max_quantity", None)
        if low is not None and high is not None and high < low:
            raise PydanticCustomError("max_below_min", "max_quantity must not be below min_quantity")
        return self


class ProductCreate(_Limits):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Text | None = None
    sku: Code
    qr_code: QrCode | None = None
    """Generated as ``product:<uuid>`` when not given."""
    barcode: Code | None = None
    category_id: Id | None = None
    unit: Unit = "pcs"
    min_quantity: NonNegativeQuantity = Decimal(0)
    max_quantity: NonNegativeQuantity | None = None
    current_quantity: NonNegativeQuantity | None = None
    """The original's initial quantity: recorded as an incoming movement at the default location."""


class ProductUpdate(_Limits):
    model_config = ConfigDict(extra="forbid")

    # Optional but never null (catalogue.update_product refuses a null): the schema says so.
    name: Name | SkipJsonSchema[None] = None
    description: Text | None = None
    sku: Code | SkipJsonSchema[None] = None
    qr_code: QrCode | SkipJsonSchema[None] = None
    barcode: Code | None = None
    category_id: Id | None = None
    unit: Unit | SkipJsonSchema[None] = None
    min_quantity: NonNegativeQuantity | SkipJsonSchema[None] = None
    max_quantity: NonNegativeQuantity | None = None
    is_archived: StrictBool | SkipJsonSchema[None] = None


class ProductPublic(BaseModel):
    id: int
    name: str
    description: str | None
    sku: str
    qr_code: str
    barcode: str | None
    category_id: int | None
    unit: str
    min_quantity: QuantityOut
    max_quantity: QuantityOut | None
    is_archived: bool
    current_quantity: QuantityOut
    created_at: dt.datetime
    updated_at: dt.datetime


class LevelPublic(BaseModel):
    location_id: int
    location: str
    quantity: QuantityOut


class ProductStock(BaseModel):
    product_id: int
    unit: str
    total: QuantityOut
    levels: list[LevelPublic]


# --- movements


class MovementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    movement_type: RecordableType
    quantity: QuantityIn
    """Positive; an adjustment's is signed (its sign is the direction)."""
    location_id: Id | None = None
    reason: Reason | None = None
    reference: Reference | None = None

    @model_validator(mode="after")
    def _sign_and_reason(self) -> MovementCreate:
        if self.movement_type == "adjustment":
            if self.quantity == 0:
                raise PydanticCustomError("adjustment_zero", "An adjustment's quantity must not be 0")
            if not self.reason:
                raise PydanticCustomError("reason_required", "An adjustment needs a reason")
        elif self.quantity <= 0:
            raise PydanticCustomError("greater_than", "Input should be greater than 0", {"gt": 0})
        return self


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    from_location_id: Id
    to_location_id: Id
    quantity: PositiveQuantity
    reason: Reason | None = None
    reference: Reference | None = None

    @model_validator(mode="after")
    def _two_places(self) -> TransferCreate:
        if self.from_location_id == self.to_location_id:
            raise PydanticCustomError("same_location", "from_location_id and to_location_id must differ")
        return self


class MovementPublic(BaseModel):
    id: int
    product_id: int
    location_id: int
    movement_type: MovementType
    quantity: QuantityOut
    balance_after: QuantityOut
    user_id: int
    reason: str | None
    reference: str | None
    idempotency_key: str | None
    transfer_id: str | None
    check_id: int | None
    created_at: dt.datetime


class TransferPublic(BaseModel):
    transfer_id: str
    product_id: int
    from_location_id: int
    to_location_id: int
    quantity: QuantityOut
    movements: list[MovementPublic]
    """The transfer_out, then the transfer_in."""


# --- inventory checks


class CheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location_id: Id | None = None
    note: Text | None = None


class CheckLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    actual_quantity: NonNegativeQuantity


class CheckLines(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: Annotated[list[CheckLineIn], Field(max_length=10_000)]

    @model_validator(mode="after")
    def _each_product_once(self) -> CheckLines:
        seen: set[int] = set()
        for line in self.lines:
            if line.product_id in seen:
                raise PydanticCustomError(
                    "duplicate_product",
                    "Product {product_id} is listed twice",
                    {"product_id": line.product_id},
                )
            seen.add(line.product_id)
        return self


class CheckLinePublic(BaseModel):
    product_id: int
    actual_quantity: QuantityOut
    expected_quantity: QuantityOut | None
    difference: QuantityOut | None
    movement_id: int | None


class CheckPublic(BaseModel):
    id: int
    status: CheckStatus
    location_id: int
    note: str | None
    created_by: int
    confirmed_by: int | None
    cancelled_by: int | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    lines: list[CheckLinePublic]


class CheckSummary(BaseModel):
    id: int
    status: CheckStatus
    location_id: int
    note: str | None
    created_by: int
    confirmed_by: int | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    line_count: int


# --- reports


class StockRow(BaseModel):
    product_id: int
    sku: str
    name: str
    location_id: int
    location: str
    quantity: QuantityOut
    unit: str


class DriftPublic(BaseModel):
    product_id: int
    location_id: int
    level: QuantityOut | None
    ledger: QuantityOut
    last_balance: QuantityOut | None
