"""Error translation (one JSON shape everywhere), the ops endpoints and the signed file route."""

from __future__ import annotations

import asyncio
import email.message
import functools
import inspect
import ipaddress
import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Query, Request, params
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute, APIWebSocketRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import Scope

from basis import __version__
from basis.core import health, outage
from basis.core.errors import BadRequest, BasisError, Forbidden, NotFound
from basis.core.logging import get_logger
from basis.core.openapi import refer_to_schema
from basis.core.storage import URL_PATH, LocalStorage, PayloadTooLarge, UnsupportedMediaType

log = get_logger("basis.http")
T = TypeVar("T")

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def code_for_status(status: int) -> str:
    return STATUS_CODES.get(status) or HTTPStatus(status).phrase.lower().replace(" ", "_")


async def _basis_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BasisError)
    body = exc.body()
    if type(body.get("detail")) is not str or len(body) != 2:
        body = jsonable_encoder(body)  # a list of field errors, or extra members: make them JSON
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    body = {"detail": exc.detail, "code": getattr(exc, "code", None) or code_for_status(exc.status_code)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _echoable(value: Any) -> bool:
    # The rejected value is echoed only when it can be: NaN, lone surrogates or a huge
    # document would turn a 422 into a 500 or a very large answer.
    try:
        text = json.dumps(jsonable_encoder(value), allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return False
    return len(text) <= 1000


def _clean_error(error: dict[str, Any]) -> dict[str, Any]:
    # ctx may hold the exception object a validator raised; keep its message only, and never
    # echo a rejected password back.
    error = dict(error)
    if "ctx" in error:
        error["ctx"] = {k: v if _echoable(v) else str(v) for k, v in error["ctx"].items()}
    loc = [str(part) for part in error.get("loc", ())]
    if any("password" in part or "token" in part or "secret" in part for part in loc):
        error.pop("input", None)
    elif "input" in error and not _echoable(error["input"]):
        error.pop("input")
    error.pop("url", None)
    return error


def validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """The field errors of a 422 as every answer shows them (no secrets, nothing unprintable)."""
    return [_clean_error(e) for e in exc.errors()]


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = validation_detail(exc)
    return JSONResponse(jsonable_encoder({"detail": detail, "code": "validation_error"}), status_code=422)


# ------------------------------------------------------------- hand-read bodies (hot paths)
# FastAPI's dependency and body machinery costs as much as the rest of a small request. The
# few routes that take machine traffic by the thousand (terminal scans) read their caller and
# their body themselves; these keep their answers and their docs the same as FastAPI's.


_UNSET: Any = object()


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def read_json_body(request: Request, adapter: TypeAdapter[T]) -> T:
    """The body validated exactly as FastAPI validates a JSON body parameter: the same media
    types taken as JSON, the same 422s and the same 400 for a body that cannot be decoded."""
    return validate_body(await decode_json_body(request), adapter)


async def decode_json_body(request: Request) -> Any:
    """The body's JSON, decoded as FastAPI decodes a JSON body before it resolves any of the
    route's dependencies (so a body that cannot be decoded is refused before the caller is
    checked, as on every other route); anything but JSON stays bytes, which no model takes."""
    raw = await request.body()
    data = _UNSET
    if raw:
        content_type = request.headers.get("content-type")
        if content_type and _is_json(content_type):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as error:
                problem = {"type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error"}
                raise RequestValidationError(
                    [{**problem, "input": {}, "ctx": {"error": error.msg}}]
                ) from None
            except (ValueError, RecursionError):
                raise StarletteHTTPException(400, "There was an error parsing the body") from None
        else:
            data = raw  # not JSON: no model accepts it
    return data


def validate_body(data: Any, adapter: TypeAdapter[T]) -> T:
    """``decode_json_body``'s result validated as FastAPI validates a body parameter."""
    if data is _UNSET:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return adapter.validate_python(data, from_attributes=True)  # as FastAPI validates bodies
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def documented_body(
    model: type[BaseModel],
    security_scheme: str | None = None,
    *,
    parameters: Sequence[dict[str, Any]] = (),
    component: bool = False,
) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` (and its caller's credential, a
    security scheme some other route declares through FastAPI) by hand. ``parameters``: the
    ones it reads by hand too. ``component``: the body refers to the model's schema by name,
    as FastAPI's own body parameters do, so generated clients keep the model's name."""
    schema = refer_to_schema(model) if component else model.model_json_schema()
    extra: dict[str, Any] = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
    }
    if parameters:
        extra["parameters"] = list(parameters)
    if security_scheme is not None:
        extra["security"] = [{security_scheme: []}]
    return extra


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """A model as JSON without None fields, skipping FastAPI's second validation of it."""
    return Response(model.model_dump_json(exclude_none=True), status_code, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """The one translation of errors to answers, and their declaration in the OpenAPI document."""
    from basis.core.openapi import install_openapi

    install_openapi(app)
    app.add_exception_handler(BasisError, _basis_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for exc_class in outage.HANDLED:
        app.add_exception_handler(exc_class, outage.dependency_unavailable)


_ROUTE_OPTIONS = [
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in ("self", "path", "endpoint")
]


def include_flat(app: FastAPI, router: APIRouter, dependencies: Sequence[params.Depends] = ()) -> None:
    """``app.include_router(router, dependencies=...)`` with the router's routes added to the
    app's own route list, as if each had been declared on the app. FastAPI (0.16x) matches an
    included router lazily, a branch per inclusion with scope bookkeeping per candidate route,
    which costs a request about as much as Basis's whole edge middleware. Each route keeps
    everything it was declared with (its router's prefix, tags and dependencies are already
    part of it; ``dependencies`` run first, as with ``include_router``), so routing and the
    OpenAPI document do not change. A router holding anything else (an included sub-router,
    a mount) is included the ordinary way."""
    if not all(isinstance(route, APIRoute | APIWebSocketRoute) for route in router.routes):
        app.include_router(router, dependencies=list(dependencies))
        return
    for route in router.routes:
        if isinstance(route, APIRoute):
            options = {name: getattr(route, name) for name in _ROUTE_OPTIONS if hasattr(route, name)}
            options["dependencies"] = [*dependencies, *route.dependencies]
            options["route_class_override"] = type(route)  # a router's own route class stays
            app.router.add_api_route(route.path, route.endpoint, **options)
        else:
            app.router.add_api_websocket_route(
                route.path, route.endpoint, route.name, dependencies=[*dependencies, *route.dependencies]
            )


class BareRoute(Route):
    """A route served by Starlette alone, with the request as its endpoint's one argument. The
    route is put in the scope as FastAPI does (the edge middleware labels metrics with its path)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def reads_its_own_request(route: APIRoute) -> bool:
    """True for an endpoint taking only the request and no dependency (a hot route that reads
    its caller, headers and body by hand), on a route class that keeps FastAPI's handler (one
    with a handler of its own, such as TimeTracker's terminal routes, needs it)."""
    dependant = route.dependant
    if type(route).get_route_handler is not APIRoute.get_route_handler:
        return False
    return dependant.request_param_name is not None and not (
        route.dependencies
        or dependant.dependencies
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    )


def include_hot(app: FastAPI, router: APIRouter) -> None:
    """``include_flat`` for an app's hot routes. A route whose endpoint reads its own request
    (``reads_its_own_request``) is answered by a ``BareRoute`` put just before it: FastAPI's
    request handler would solve an empty set of dependencies and open exit stacks for nothing,
    which costs more than the whole Starlette route. The FastAPI route stays behind it for the
    OpenAPI document; errors go through the app's same exception handlers either way."""
    include_flat(app, router)
    routes = app.router.routes
    for route in router.routes:
        if not (isinstance(route, APIRoute) and reads_its_own_request(route)):
            continue
        twin = next(
            n
            for n, known in enumerate(routes)
            if isinstance(known, APIRoute) and known.endpoint is route.endpoint and known.path == route.path
        )
        bare = BareRoute(route.path, route.endpoint, methods=list(route.methods), name=route.name)
        routes.insert(twin, bare)


DOCS_ASSETS = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts served from the installed
    ``fastapi_offline`` package instead of a CDN: the docs work on a closed network, and the
    pages name no other host."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from starlette.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger_ui(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    async def swagger_ui_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(_request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")


def check_metrics_access(request: Request, settings: Any) -> None:
    """/metrics for a caller from ``BASIS_METRICS_NETWORKS`` or with ``BASIS_METRICS_TOKEN``;
    with neither configured, open in dev and closed in prod (the counters name every route
    and what is refused, which an outsider has no business reading)."""
    import hmac

    from basis.core.net import client_ip, parse_networks

    token = settings.metrics_token
    networks = parse_networks(tuple(settings.metrics_networks))
    if token is None and not networks:
        if settings.env == "prod":
            raise Forbidden(
                "Metrics are closed in prod until BASIS_METRICS_TOKEN or BASIS_METRICS_NETWORKS is set",
                code="metrics_closed",
            )
        return
    if networks:
        caller = client_ip(request, tuple(settings.trusted_proxies))
        try:
            if any(ipaddress.ip_address(caller) in network for network in networks):
                return
        except ValueError:
            pass
    if token is None:
        raise Forbidden("Metrics are not served to this network", code="forbidden")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode()):
        raise StarletteHTTPException(401, "Metrics token required", headers={"WWW-Authenticate": "Bearer"})


def literal_routes_first(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """Orders the app's routes so that every route whose path has no parameter is tried before
    any route with one, whoever declared them (``/api/users/me`` is never taken by another
    app's ``/api/users/{id}``); the order is kept otherwise. Returns the (method, path, modules)
    that more than one module declares: the first of them answers (``BASIS_APPS`` order)."""
    routes = app.router.routes
    routes[:] = sorted(routes, key=lambda route: "{" in getattr(route, "path", ""))
    owners: dict[tuple[str, str], list[str]] = {}
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        path = getattr(route, "path", None)
        if endpoint is None or path is None:
            continue
        shape = re.sub(r"\{[^}]*\}", "{}", path)
        for method in getattr(route, "methods", None) or {"WEBSOCKET"}:
            owners.setdefault((method, shape), []).append(endpoint.__module__)
    return [(method, shape, modules) for (method, shape), modules in owners.items() if len(set(modules)) > 1]


def _disk_problems(database_url: str, storage_root: Path | None) -> list[tuple[str, str]]:
    """(directory, reason) for each watched filesystem that cannot take writes."""
    found = []
    for directory in health.watched_directories(database_url, [storage_root] if storage_root else []):
        reason = health.disk_problem(directory)
        if reason is not None:
            found.append((str(directory), reason))
    return found


def ops_router() -> APIRouter:
    router = APIRouter(tags=["ops"])

    alive = json.dumps({"status": "ok", "version": __version__}, separators=(",", ":")).encode()

    @router.get("/health", response_model=dict[str, str])
    async def health() -> Response:
        # Answered as ready-made bytes: load balancers ask this many times a second.
        return Response(alive, media_type="application/json")

    disk_state: dict[str, list[tuple[str, str]]] = {"problems": []}

    @router.get(
        "/health/ready",
        responses={
            503: {"description": "a dependency is down, or the disk under SQLite or file storage is full"}
        },
    )
    async def ready(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        ok = True
        try:
            async with request.app.state.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure, it never raises
            log.warning("ready_database_failed", error=type(exc).__name__)
            checks["database"] = "down"
            ok = False
        redis = request.app.state.infra.redis
        if redis is not None:
            try:
                await redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                log.warning("ready_redis_failed", error=type(exc).__name__)
                checks["redis"] = "down"
                ok = False
        settings = request.app.state.settings
        storage = request.app.state.infra.storage
        storage_root = storage.root if isinstance(storage, LocalStorage) else None
        problems = await asyncio.to_thread(_disk_problems, settings.resolved_database_url, storage_root)
        if problems:  # listed when full only: the healthy answer keeps its documented shape
            checks["disk"] = "full"
        if problems != disk_state["problems"]:  # a line when it changes, not one per probe
            disk_state["problems"] = problems
            if problems:
                log.warning("ready_disk_failed", problems=problems)
            else:
                log.warning("ready_disk_ok")
        ok = ok and not problems
        body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
        if not ok:
            body["code"] = "unavailable"
            reasons = sorted({reason for _, reason in problems})
            body["detail"] = (
                "; ".join(reasons) if problems and checks["database"] == "ok" else "A dependency is down"
            )
            if problems:
                body["reasons"] = reasons
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", response_class=Response, responses={401: {}, 403: {}, 404: {}})
    async def metrics(request: Request) -> Response:
        settings = request.app.state.settings
        if not settings.metrics_enabled:
            raise StarletteHTTPException(404, "Not Found")
        check_metrics_access(request, settings)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


# ------------------------------------------------------------------ signed file links (local)
# Local storage's presigned URLs land here. Public: the token in the query string is the only
# credential, checked before anything else. With S3 storage the links point at the bucket
# and this route finds nothing.

_INLINE_TYPES = ("image/", "audio/", "video/", "application/pdf", "text/plain")


LinkToken = Annotated[str, Query(min_length=1, max_length=4096, description="The link's signature")]


class FileUpload(BaseModel):
    key: str
    size: int
    content_type: str


def _local_storage(request: Request) -> LocalStorage:
    storage = request.app.state.infra.storage
    if not isinstance(storage, LocalStorage):
        raise NotFound("Not Found")
    return storage


def files_router() -> APIRouter:
    router = APIRouter(tags=["files"])
    refusals: dict[int | str, dict[str, Any]] = {403: {"description": "a forged, expired or other link"}}

    @router.get(URL_PATH + "{key:path}", response_class=Response, responses={**refusals, 404: {}})
    async def download_file(request: Request, key: str, token: LinkToken) -> Response:
        storage = _local_storage(request)
        storage.verify("get", key, token)
        info = await storage.head(key)
        if info is None:
            raise NotFound(f"No stored file {key!r}", code="not_found")
        inline = info.content_type.startswith(_INLINE_TYPES)
        return FileResponse(
            storage.path_of(key),
            media_type=info.content_type,
            content_disposition_type="inline" if inline else "attachment",
            filename=key.rsplit("/", 1)[-1],
            headers={"Cache-Control": "private, max-age=60"},
        )

    @router.put(
        URL_PATH + "{key:path}",
        responses={
            **refusals,
            413: {"description": "more bytes than the link allows"},
            415: {"description": "not the link's content type"},
        },
    )
    async def upload_file(request: Request, key: str, token: LinkToken) -> FileUpload:
        storage = _local_storage(request)
        grant = storage.verify("put", key, token)
        assert grant.content_type is not None and grant.max_bytes is not None
        sent_type = request.headers.get("content-type", "").strip().lower()
        if sent_type != grant.content_type:
            raise UnsupportedMediaType(f"This link uploads {grant.content_type} only")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > grant.max_bytes):
            raise PayloadTooLarge(f"This link uploads at most {grant.max_bytes} bytes")
        try:
            info = await storage.put_stream(key, request.stream(), grant.content_type, grant.max_bytes)
        except ClientDisconnect:  # nothing was kept; an answer nobody reads, not an error in the log
            raise BadRequest("The upload was interrupted", code="upload_interrupted") from None
        return FileUpload(key=info.key, size=info.size, content_type=info.content_type)

    return router
