"""The core's declarations in the OpenAPI document (core/openapi.py), on a small app: what every
operation can answer, in the one error shape, and what request text may hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.security import HTTPBearer
from pydantic import BaseModel

from basis.core.http import install_error_handlers
from basis.core.types import NO_NUL

bearer = HTTPBearer(auto_error=False)


class NoteIn(BaseModel):
    text: str
    password: str


class NoteOut(BaseModel):
    text: str


def small_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/notes/{note_id}", response_model=NoteOut, responses={409: {"description": "taken"}})
    async def write(note_id: int, note: NoteIn, _: Annotated[object, Depends(bearer)]) -> NoteOut:
        return NoteOut(text=note.text)

    @app.get("/open")
    async def open_list(q: str | None = None) -> list[str]:
        return []

    return app


def test_every_operation_declares_the_core_errors_in_one_shape() -> None:
    spec = small_app().openapi()
    note = spec["paths"]["/notes/{note_id}"]["post"]["responses"]
    assert set(note) == {"200", "400", "401", "403", "404", "409", "413", "422", "429", "503"}
    for status, answer in note.items():
        if status != "200":
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert note["409"]["description"] == "taken"  # what the route said stays
    assert set(spec["paths"]["/open"]["get"]["responses"]) == {"200", "400", "422", "429", "503"}
    assert set(spec["paths"]["/health"]["get"]["responses"]) == {"200"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Error"]["required"] == ["detail", "code"]


def test_request_text_refuses_nul_and_answers_are_left_alone() -> None:
    spec = small_app().openapi()
    schemas = spec["components"]["schemas"]
    assert schemas["NoteIn"]["properties"]["text"]["pattern"] == NO_NUL
    assert "pattern" not in schemas["NoteIn"]["properties"]["password"]
    assert "pattern" not in schemas["NoteOut"]["properties"]["text"]
    [q] = spec["paths"]["/open"]["get"]["parameters"]
    assert [branch.get("pattern") for branch in q["schema"]["anyOf"]] == [NO_NUL, None]
