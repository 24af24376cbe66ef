"""The OpenAPI document as the server really answers (issue 12, point 10).

FastAPI documents what a route declares: its model and the statuses its decorator lists. The
answers the core gives on every route are not declared there, so this module adds them once,
when the document is built: the core error shape (``{detail, code}``) under every error status
an operation can get from the core itself, chosen from what the operation has:

- any operation: 503 (the database or Redis out of reach) and 429 (rate limits);
- an authenticated one (a security scheme): 401 and 403;
- a path parameter: 404 (nothing with that id);
- any parameter or a body: 422 (the core's field errors, or a value the service refuses);
- any parameter or a body: 400 as well (a body that cannot be decoded, a request the service
  refuses as a whole);
- a body: 413 (too large).

Request text: no API stores a NUL character (PostgreSQL cannot), so every string a request
sends (parameters and bodies, passwords aside) is declared with a pattern that excludes it,
unless it has a stricter pattern, a format or a list of values of its own. A model that refuses
every control character says so with ``json_schema_extra=refuse_control_characters``.

A status a route declares itself keeps its description; only a missing content schema is
filled with the error shape. FastAPI's own 422 schema (``HTTPValidationError``: ``detail`` a list)
is replaced by the error shape, whose ``detail`` is a message or a list of field errors.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from basis.core.types import NO_CONTROL, NO_NUL

ERROR = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR}"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR,
    "type": "object",
    "description": "Every error answer: a stable machine-readable `code` and a `detail` (a message, "
    "or for 422 the list of field errors). Some APIs add members (the terminal protocol `ok: false`).",
    "required": ["detail", "code"],
    "properties": {
        "detail": {
            "title": "Detail",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object"}},
                {"type": "object"},
            ],
        },
        "code": {"title": "Code", "type": "string"},
    },
}

DESCRIPTIONS = {
    400: "bad_request: a body that cannot be decoded",
    401: "not_authenticated: no valid credentials",
    403: "forbidden: the credentials do not allow this",
    404: "not_found: nothing with that id",
    413: "body_too_large",
    422: "validation_error: the field errors; or a value the service refuses",
    429: "rate_limited",
    503: "unavailable: the database or Redis is out of reach; try again",
}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Answered without the database, the rate limiter or any parameter: only what they declare.
_BARE = frozenset({"/health"})


def error_statuses(path: str, operation: dict[str, Any], *, secured_globally: bool) -> list[int]:
    """The core's error answers an operation can give."""
    if path in _BARE:
        return []
    statuses = [429, 503]
    if operation.get("security") or secured_globally:
        statuses += [401, 403]
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "path" for p in parameters):
        statuses.append(404)
    body = "requestBody" in operation
    if parameters or body:
        statuses += [400, 422]
    if body:
        statuses.append(413)
    return sorted(statuses)


# ------------------------------------------------------------------------- request text


def _string_schemas(schema: Any) -> list[dict[str, Any]]:
    """The string schemas a property may be: itself, a branch of anyOf/oneOf, or array items."""
    if not isinstance(schema, dict):
        return []
    found = [schema] if schema.get("type") == "string" else []
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, []):
            found += _string_schemas(branch)
    if schema.get("type") == "array":
        found += _string_schemas(schema.get("items"))
    return found


def _declare_pattern(schema: dict[str, Any], pattern: str) -> None:
    for string in _string_schemas(schema):
        if not ({"pattern", "format", "enum", "const", "contentMediaType"} & string.keys()):
            string["pattern"] = pattern


def _declare_properties(schema: dict[str, Any], pattern: str) -> None:
    for name, prop in schema.get("properties", {}).items():
        if "password" not in name:
            _declare_pattern(prop, pattern)


def refuse_control_characters(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of a request model whose strings refuse control characters
    (tab and newlines pass), passwords aside."""
    _declare_properties(schema, NO_CONTROL)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _closure(names: set[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        todo += _refs(schemas[name])
    return seen


def declare_request_text(spec: dict[str, Any]) -> None:
    """Every request string without a pattern of its own refuses NUL, as every API does."""
    schemas = spec.get("components", {}).get("schemas", {})
    requests: set[str] = set()
    answers: set[str] = set()
    for item in spec.get("paths", {}).values():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            for parameter in operation.get("parameters", []):
                if "password" not in parameter.get("name", "") and parameter.get("in") != "header":
                    _declare_pattern(parameter.get("schema", {}), NO_NUL)
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                inline = media.get("schema", {})
                _declare_properties(inline, NO_NUL)
                requests |= _refs(inline)
            answers |= _refs(operation.get("responses", {}))
    # A model that is also an answer keeps its schema: a pattern there would bind answers too.
    for name in _closure(requests, schemas) - _closure(answers, schemas):
        _declare_properties(schemas[name], NO_NUL)


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": dict(ERROR_REF)}}


def _is_error_schema(content: dict[str, Any]) -> bool:
    schema = content.get("application/json", {}).get("schema")
    return not schema or schema.get("$ref", "").endswith("/HTTPValidationError")


def declare_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the core's error answers declared on every operation (in place)."""
    spec.setdefault("components", {}).setdefault("schemas", {})[ERROR] = ERROR_SCHEMA
    secured_globally = bool(spec.get("security"))
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, operation, secured_globally=secured_globally):
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status[0] in "45" and _is_error_schema(response.get("content", {})):
                    response["content"] = _error_content()
    schemas = spec["components"]["schemas"]
    if not _refers(spec["paths"], "HTTPValidationError"):
        schemas.pop("HTTPValidationError", None)
        if not _refers(spec["paths"], "ValidationError") and not _refers(schemas, "ValidationError"):
            schemas.pop("ValidationError", None)
    return spec


def _refers(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == f"#/components/schemas/{name}" or any(
            _refers(value, name) for value in node.values()
        )
    if isinstance(node, list):
        return any(_refers(value, name) for value in node)
    return False


_COMPONENTS: dict[str, type[BaseModel]] = {}


def refer_to_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A ``$ref`` to ``model``'s schema among the components, for a body a route reads by hand
    (``core.http.documented_body``): the document gets the schema as FastAPI would add it."""
    _COMPONENTS[model.__name__] = model
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def add_hand_read_components(spec: dict[str, Any]) -> None:
    """The schemas ``refer_to_schema`` promised, with the ones they use, where FastAPI did not
    already add them: written by FastAPI itself, for a route that would take the model."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _COMPONENTS.items():
        if name in schemas or not _refers(spec.get("paths", {}), name):
            continue

        async def takes(body: Any) -> None:  # pragma: no cover - documents, never called
            return None

        takes.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)]
        )
        route = APIRoute("/", takes, methods=["POST"])
        written = get_openapi(title="", version="", routes=[route])["components"]["schemas"]
        for used, schema in written.items():
            if used not in ("HTTPValidationError", "ValidationError"):
                schemas.setdefault(used, schema)


def install_openapi(app: FastAPI) -> None:
    """``app.openapi()`` builds FastAPI's document once, then declares the core's errors."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            add_hand_read_components(spec)
            declare_request_text(spec)
            app.openapi_schema = declare_errors(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
