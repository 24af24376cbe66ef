"""The shared input and list types: one id bound, one paging style, text a database can store."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, ValidationError

from basis.core.http import install_error_handlers
from basis.core.pagination import Page, PageParams, Paging, paging
from basis.core.types import MAX_ID, Id, PrintableText, StorableText


class Body(BaseModel):
    ref: Id
    text: StorableText | None = None
    label: PrintableText | None = None


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: Id, page: Paging, other: Id | None = None) -> Page[int]:
        return page.page([thing_id] if other is None else [thing_id, other], total=2)

    @app.get("/wide")
    async def wide(page: Annotated[PageParams, Depends(paging(max_offset=10**9))]) -> Page[int]:
        return page.page([], total=0)

    @app.post("/bodies")
    async def body(data: Body) -> Body:
        return data

    return app


@pytest.fixture
async def api() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client  # type: ignore[misc]


async def test_a_page_answers_items_total_limit_and_offset(api: httpx.AsyncClient) -> None:
    response = await api.get("/things/7", params={"other": 8})
    assert response.json() == {"items": [7, 8], "total": 2, "limit": 50, "offset": 0}
    assert (await api.get("/things/7?limit=500&offset=10")).json()["limit"] == 500


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=x", "offset=-1", "offset=10000001", f"other={MAX_ID + 1}"]
)
async def test_paging_and_ids_out_of_bounds_are_422(api: httpx.AsyncClient, query: str) -> None:
    response = await api.get(f"/things/1?{query}")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_an_api_may_keep_its_own_offset_bound(api: httpx.AsyncClient) -> None:
    assert (await api.get("/wide?offset=1000000000")).status_code == 200
    assert (await api.get("/wide?offset=1000000001")).status_code == 422


@pytest.mark.parametrize("thing_id", ["0", str(MAX_ID + 1), "-3"])
async def test_an_id_in_a_path_is_bounded(api: httpx.AsyncClient, thing_id: str) -> None:
    assert (await api.get(f"/things/{thing_id}")).status_code == 422
    assert (await api.get(f"/things/{MAX_ID}")).status_code == 200


def test_the_bounds_are_documented_the_same_everywhere() -> None:
    spec = _app().openapi()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/things/{thing_id}"]["get"]["parameters"]}
    assert params["thing_id"]["minimum"] == 1 and params["thing_id"]["maximum"] == MAX_ID
    assert params["limit"] == {**params["limit"], "minimum": 1, "maximum": 500, "default": 50}
    assert params["offset"]["maximum"] == 10_000_000
    body = spec["components"]["schemas"]["Body"]["properties"]["ref"]
    assert body["minimum"] == 1 and body["maximum"] == MAX_ID


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("text", "a\x00b", "nul_character"),
        ("text", "\ud800", "invalid_unicode"),
        ("label", "bell\x07", "value_error"),
        ("label", "a\x00b", "value_error"),
        ("ref", 0, "greater_than_equal"),
    ],
)
def test_unstorable_text_is_refused(field: str, value: object, error: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Body.model_validate({"ref": 1, field: value})
    assert raised.value.errors()[0]["type"] == error


def test_ordinary_text_passes_unchanged() -> None:
    body = Body.model_validate({"ref": 1, "text": "Zażółć\tgęślą\njaźń", "label": "line one\r\nline two"})
    assert body.text == "Zażółć\tgęślą\njaźń"
    assert body.label == "line one\r\nline two"
