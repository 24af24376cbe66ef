"""The warehouse's domain errors, each with the stable ``code`` clients branch on."""

from __future__ import annotations

from decimal import Decimal

from basis.apps.warehouse.types import as_number
from basis.core.errors import Conflict, NotFound, Unprocessable


def product_not_found(product_id: int | None = None) -> NotFound:
    extra = {"product_id": product_id} if product_id is not None else None
    return NotFound("Product not found", code="product_not_found", extra=extra)


def location_not_found(location_id: int) -> NotFound:
    return NotFound("Location not found", code="location_not_found", extra={"location_id": location_id})


def category_not_found(category_id: int) -> NotFound:
    return NotFound("Category not found", code="category_not_found", extra={"category_id": category_id})


def check_not_found() -> NotFound:
    return NotFound("Inventory check not found", code="inventory_check_not_found")


def movement_not_found() -> NotFound:
    return NotFound("Stock movement not found", code="movement_not_found")


def product_archived(product_id: int) -> Conflict:
    return Conflict(
        "The product is archived and takes no new movements",
        code="product_archived",
        extra={"product_id": product_id},
    )


def insufficient_stock(
    *, product_id: int, location_id: int, available: Decimal, requested: Decimal
) -> Conflict:
    return Conflict(
        "Not enough stock for this movement",
        code="insufficient_stock",
        extra={
            "product_id": product_id,
            "location_id": location_id,
            "available": as_number(available),
            "requested": as_number(requested),
        },
    )


def invalid_quantity(unit: str, field: str = "quantity") -> Unprocessable:
    return Unprocessable(
        f"{field} must be a whole number for unit {unit!r}",
        code="invalid_quantity",
        extra={"unit": unit, "field": field},
    )


def duplicate(field: str, value: str) -> Conflict:
    return Conflict(
        f"A product with this {field} already exists", code=f"duplicate_{field}", extra={field: value}
    )


def check_not_open(status: str) -> Conflict:
    return Conflict(f"The inventory check is {status}", code=f"check_{status}", extra={"status": status})


def duplicate_location() -> Conflict:
    return Conflict("A location with this name already exists here", code="duplicate_location")


def duplicate_category() -> Conflict:
    return Conflict("A category with this name already exists here", code="duplicate_category")
