"""Warehouse test helpers: an API wrapper with an admin and an operator, and product factories."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

_numbers = itertools.count(1)


@dataclass
class Warehouse:
    """The API as an admin and an operator use it; every helper asserts the expected status."""

    client: httpx.AsyncClient
    admin: dict[str, str]
    operator: dict[str, str]

    async def product(self, *, expect: int = 201, **fields: Any) -> dict[str, Any]:
        number = next(_numbers)
        body = {"name": f"Product {number}", "sku": f"SKU-{number:05d}", **fields}
        response = await self.client.post("/products", json=body, headers=self.admin)
        assert response.status_code == expect, response.text
        return response.json()

    async def location(self, name: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"name": name or f"Shelf {next(_numbers)}", **fields}
        response = await self.client.post("/locations", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return response.json()

    async def move(
        self,
        product_id: int,
        movement_type: str,
        quantity: Any,
        *,
        expect: int = 201,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        request_headers = dict(headers or self.operator)
        if key is not None:
            request_headers["Idempotency-Key"] = key
        response = await self.client.post(
            "/stock-movements",
            json={"product_id": product_id, "movement_type": movement_type, "quantity": quantity, **fields},
            headers=request_headers,
        )
        assert response.status_code == expect, response.text
        return response.json()

    async def stock(self, product_id: int) -> dict[str, Any]:
        response = await self.client.get(f"/products/{product_id}/stock", headers=self.operator)
        assert response.status_code == 200, response.text
        return response.json()

    async def quantity(self, product_id: int) -> Any:
        response = await self.client.get(f"/products/{product_id}", headers=self.operator)
        assert response.status_code == 200, response.text
        return response.json()["current_quantity"]

    async def movements(self, product_id: int) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/products/{product_id}/movements", params={"limit": 500}, headers=self.operator
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]


@pytest.fixture
async def wh(
    client: httpx.AsyncClient, admin_headers: dict[str, str], operator_headers: dict[str, str]
) -> Warehouse:
    return Warehouse(client, admin_headers, operator_headers)
