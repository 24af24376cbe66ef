"""Admin panel views. The ledger is read-only here as everywhere: stock changes only through
the API's movements, which keep the levels, the rules and the audit trail."""

from __future__ import annotations

from typing import Any

from sqladmin import ModelView
from sqlalchemy import Select, func, select
from sqlalchemy.orm import undefer
from starlette.requests import Request

from basis.apps.warehouse.models import Category, InventoryCheck, Location, Product, StockMovement
from basis.apps.warehouse.types import as_number
from basis.core.admin import ReadOnlyView, RoleGate

CATEGORY = "Warehouse"


def _quantity(model: Any, attribute: Any) -> Any:
    value = getattr(model, str(attribute).rsplit(".", 1)[-1], None)
    return "" if value is None else as_number(value)


def _low(total: Any) -> Any:
    return (Product.is_archived == False) & (total < Product.min_quantity)  # noqa: E712


class ProductAdmin(RoleGate, ModelView, model=Product):
    category = CATEGORY
    icon = "fa-solid fa-box"
    column_list = [
        Product.id,
        Product.sku,
        Product.name,
        Product.unit,
        "current_quantity",
        Product.min_quantity,
        Product.max_quantity,
        Product.is_archived,
    ]
    column_labels = {
        "current_quantity": "In stock",
        Product.min_quantity: "Minimum",
        Product.max_quantity: "Maximum",
    }
    column_searchable_list = [Product.name, Product.sku, Product.barcode, Product.qr_code]
    column_sortable_list = [Product.id, Product.sku, Product.name]
    column_default_sort = [(Product.id, True)]
    column_formatters = {
        "current_quantity": _quantity,
        Product.min_quantity: _quantity,
        Product.max_quantity: _quantity,
    }
    column_details_exclude_list = []
    form_excluded_columns = [Product.created_at, Product.updated_at, "current_quantity"]
    # A product with history is archived (is_archived), never deleted.
    can_delete = False

    def list_query(self, request: Request) -> Select[Any]:
        return select(Product).options(undefer(Product.current_quantity))  # type: ignore[attr-defined]

    def details_query(self, request: Request) -> Select[Any]:
        return super().details_query(request).options(undefer(Product.current_quantity))  # type: ignore[attr-defined]


class LowStockAdmin(ReadOnlyView, model=Product):
    """Active products whose total stock is below their minimum (never stocked counts as 0)."""

    name = "Low stock"
    name_plural = "Low stock"
    category = CATEGORY
    icon = "fa-solid fa-triangle-exclamation"
    column_list = [
        Product.id,
        Product.sku,
        Product.name,
        "current_quantity",
        Product.min_quantity,
        Product.unit,
    ]
    column_labels = {"current_quantity": "In stock", Product.min_quantity: "Minimum"}
    column_formatters = {"current_quantity": _quantity, Product.min_quantity: _quantity}
    column_searchable_list = [Product.name, Product.sku]
    can_view_details = False

    def list_query(self, request: Request) -> Select[Any]:
        total = Product.current_quantity  # type: ignore[attr-defined]
        return select(Product).options(undefer(total)).where(_low(total))

    def count_query(self, request: Request) -> Select[Any]:
        return select(func.count(Product.id)).where(_low(Product.current_quantity))  # type: ignore[attr-defined]


class CategoryAdmin(RoleGate, ModelView, model=Category):
    category = CATEGORY
    icon = "fa-solid fa-folder-tree"
    name_plural = "Categories"
    column_list = [Category.id, Category.name, Category.parent_id, Category.description]
    column_searchable_list = [Category.name]
    # Deleting goes through the API, which refuses a category still in use.
    can_delete = False


class LocationAdmin(RoleGate, ModelView, model=Location):
    category = CATEGORY
    icon = "fa-solid fa-warehouse"
    column_list = [Location.id, Location.name, Location.parent_id, Location.is_default, Location.description]
    column_searchable_list = [Location.name]
    # The default is moved with PATCH /locations/{id} {"is_default": true}: exactly one exists.
    form_excluded_columns = [Location.is_default]
    can_delete = False


class StockMovementAdmin(ReadOnlyView, model=StockMovement):
    category = CATEGORY
    icon = "fa-solid fa-right-left"
    name = "Stock movement"
    column_list = [
        StockMovement.id,
        StockMovement.created_at,
        StockMovement.product_id,
        StockMovement.location_id,
        StockMovement.movement_type,
        StockMovement.quantity,
        StockMovement.balance_after,
        StockMovement.user_id,
        StockMovement.reason,
        StockMovement.reference,
    ]
    column_formatters = {StockMovement.quantity: _quantity, StockMovement.balance_after: _quantity}
    column_searchable_list = [StockMovement.reference, StockMovement.reason]
    column_sortable_list = [StockMovement.id, StockMovement.created_at, StockMovement.product_id]
    column_default_sort = [(StockMovement.id, True)]


class InventoryCheckAdmin(ReadOnlyView, model=InventoryCheck):
    category = CATEGORY
    icon = "fa-solid fa-clipboard-check"
    name = "Inventory check"
    column_list = [
        InventoryCheck.id,
        InventoryCheck.status,
        InventoryCheck.location_id,
        InventoryCheck.created_by,
        InventoryCheck.created_at,
        InventoryCheck.confirmed_by,
        InventoryCheck.confirmed_at,
        InventoryCheck.note,
    ]
    column_sortable_list = [InventoryCheck.id, InventoryCheck.status, InventoryCheck.created_at]
    column_default_sort = [(InventoryCheck.id, True)]
    # Lines, confirmation and cancellation follow the rules of the API (W6): read-only here.


# SQLAdmin names a view after its model whatever the class says; a second Product view needs
# its own name in the URLs.
LowStockAdmin.identity = "low-stock"

VIEWS: list[type] = [
    ProductAdmin,
    LowStockAdmin,
    CategoryAdmin,
    LocationAdmin,
    StockMovementAdmin,
    InventoryCheckAdmin,
]
