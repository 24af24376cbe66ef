"""``POST /stock-movements`` reads its caller, its Idempotency-Key and its body by hand (the hot
path). Every refusal must be the one FastAPI gives for the same route declared the ordinary way:
a twin of it, with FastAPI's dependencies, answers the same requests side by side."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from tests.apps.warehouse.conftest import Warehouse

from basis.apps.warehouse.dependencies import IdempotencyKey
from basis.apps.warehouse.schemas import MovementCreate
from basis.identity.deps import OperatorUser, require_user

TWIN = "/test-twin/stock-movements"


async def _twin(data: MovementCreate, user: OperatorUser, key: IdempotencyKey) -> JSONResponse:
    return JSONResponse({"twin": True}, status_code=201)


@pytest.fixture
def twin(app: FastAPI) -> str:
    # As main.py includes an authenticated router: require_user first, then the route's own.
    app.router.add_api_route(TWIN, _twin, methods=["POST"], dependencies=[Depends(require_user)])
    return TWIN


GOOD = {"product_id": 1, "movement_type": "incoming", "quantity": 1}
JSON = {"Content-Type": "application/json"}


def _cases(operator: dict[str, str], user: dict[str, str]) -> list[tuple[str, dict[str, str], Any]]:
    """(what, headers, body: a dict sent as JSON, or bytes as they are)."""
    return [
        ("no credentials", JSON, GOOD),
        ("another scheme", {**JSON, "Authorization": "Basic dXNlcjpwYXNz"}, GOOD),
        ("an empty bearer", {**JSON, "Authorization": "Bearer "}, GOOD),
        ("a forged token", {**JSON, "Authorization": "Bearer not.a.token"}, GOOD),
        ("a user, not an operator", {**JSON, **user}, GOOD),
        ("a user with a bad body", {**JSON, **user}, b"{"),
        ("no credentials and a bad body", JSON, b"{"),
        ("a user with a wrong field", {**JSON, **user}, {"quantity": "x"}),
        ("no body", {**operator}, b""),
        ("JSON that does not parse", {**JSON, **operator}, b'{"product_id": '),
        ("bytes that are not UTF-8", {**JSON, **operator}, b'{"a": "\xff"}'),
        ("a body that is not JSON", {"Content-Type": "text/plain", **operator}, b"product 1"),
        ("a list", {**JSON, **operator}, b"[]"),
        ("an unknown field", {**JSON, **operator}, {**GOOD, "balance_after": 5}),
        ("a wrong type and a missing field", {**JSON, **operator}, {"product_id": "x", "quantity": "1.2.3"}),
        ("a key with a space", {**JSON, **operator, "Idempotency-Key": "a b"}, GOOD),
        ("a key too long", {**JSON, **operator, "Idempotency-Key": "k" * 201}, GOOD),
        ("a bad key and a bad body", {**JSON, **operator, "Idempotency-Key": ""}, {"quantity": []}),
    ]


async def test_every_refusal_is_the_one_fastapi_gives(
    wh: Warehouse, twin: str, user_headers: dict[str, str]
) -> None:
    for what, headers, body in _cases(wh.operator, user_headers):
        answers = []
        for path in ("/stock-movements", twin):
            kwargs = {"json": body} if isinstance(body, dict) else {"content": body}
            answers.append(await wh.client.post(path, headers=headers, **kwargs))
        ours, fastapi = answers
        assert fastapi.status_code in (400, 401, 403, 422), (what, fastapi.status_code)
        assert (ours.status_code, ours.json()) == (fastapi.status_code, fastapi.json()), what
        assert ours.headers.get("www-authenticate") == fastapi.headers.get("www-authenticate"), what


async def test_a_good_movement_and_its_replay(wh: Warehouse, client: httpx.AsyncClient) -> None:
    product = await wh.product(name="Hot route", sku="HOT-1")
    headers = {**wh.operator, "Idempotency-Key": "hot-route-1"}
    body = {"product_id": product["id"], "movement_type": "incoming", "quantity": "3"}
    first = await client.post("/stock-movements", json=body, headers=headers)
    again = await client.post("/stock-movements", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert await wh.quantity(product["id"]) == 3
    other = await client.post("/stock-movements", json={**body, "quantity": 4}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
