"""``include_flat``: a router's routes on the app's own list behave and document exactly as
``include_router`` would have them; ``include_hot`` serves a hand-read route with Starlette
alone (pure: no database)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from basis.core.http import BareRoute, include_flat, include_hot, install_error_handlers


def _guard(x_key: str | None = Header(default=None)) -> None:
    if x_key != "open":
        raise HTTPException(status_code=401, detail="no key")


def _routers() -> tuple[APIRouter, APIRouter]:
    items = APIRouter(prefix="/items", tags=["items"], responses={404: {"description": "no such item"}})

    @items.get("/{item_id}", response_model=dict[str, int], summary="One item")
    async def one(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @items.post("", status_code=201)
    async def create(body: dict[str, str]) -> dict[str, str]:
        return body

    @items.websocket("/live")
    async def live(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hello")
        await socket.close()

    nested = APIRouter(prefix="/outer")
    inner = APIRouter(prefix="/inner")

    @inner.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    nested.include_router(inner)
    return items, nested


def _app(flat: bool) -> FastAPI:
    app = FastAPI()
    items, nested = _routers()
    guard = [Depends(_guard)]
    if flat:
        include_flat(app, items, guard)
        include_flat(app, nested, guard)
    else:
        app.include_router(items, dependencies=guard)
        app.include_router(nested, dependencies=guard)
    return app


def test_the_openapi_document_is_the_same_as_include_routers() -> None:
    assert _app(flat=True).openapi() == _app(flat=False).openapi()


@pytest.mark.parametrize("flat", [True, False])
async def test_routes_keep_their_prefix_status_and_the_dependencies_of_the_inclusion(flat: bool) -> None:
    transport = httpx.ASGITransport(app=_app(flat))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/items/7")).status_code == 401
        assert (await client.get("/outer/inner/ping")).status_code == 401
        opened = {"X-Key": "open"}
        assert (await client.get("/items/7", headers=opened)).json() == {"id": 7}
        created = await client.post("/items", json={"a": "b"}, headers=opened)
        assert created.status_code == 201
        assert (await client.get("/outer/inner/ping", headers=opened)).json() == {"pong": "yes"}
        assert (await client.get("/items/x", headers=opened)).status_code == 422


async def _socket(app: FastAPI, headers: list[tuple[bytes, bytes]]) -> list[dict[str, object]]:
    """Opens ``/items/live`` at the ASGI level and returns what the app sent."""
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/items/live",
        "raw_path": b"/items/live",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "subprotocols": [],
        "state": {},
    }
    await app(scope, receive, send)
    return sent


async def test_socket_routes_keep_the_dependencies_of_the_inclusion() -> None:
    app = _app(flat=True)
    opened = await _socket(app, [(b"x-key", b"open")])
    assert [m["type"] for m in opened] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert opened[1]["text"] == "hello"
    refused = await _socket(app, [])
    assert "websocket.accept" not in [m["type"] for m in refused]


class _StampedRoute(APIRoute):
    def get_route_handler(self):  # type: ignore[no-untyped-def]
        handler = super().get_route_handler()

        async def stamped(request):  # type: ignore[no-untyped-def]
            response = await handler(request)
            response.headers["X-Route-Class"] = "stamped"
            return response

        return stamped


@pytest.mark.parametrize("flat", [True, False])
async def test_routes_keep_their_routers_route_class(flat: bool) -> None:
    router = APIRouter(route_class=_StampedRoute)

    @router.get("/stamped")
    async def stamped() -> dict[str, str]:
        return {"ok": "yes"}

    app = FastAPI()
    if flat:
        include_flat(app, router)
    else:
        app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/stamped")).headers["x-route-class"] == "stamped"


async def test_a_hot_route_reading_its_own_request_is_served_by_starlette_and_documented_by_fastapi() -> None:
    hot = APIRouter(tags=["hot"])
    seen: list[object] = []

    @hot.post("/hot", status_code=201, summary="Read by hand")
    async def by_hand(request: Request) -> Response:
        seen.append(request.scope["route"])
        if await request.body() == b"bad":
            raise RequestValidationError([{"type": "missing", "loc": ["body"], "msg": "Field required"}])
        return Response(b"{}", status_code=201, media_type="application/json")

    @hot.get("/hot")
    async def with_a_parameter(n: int) -> dict[str, int]:
        return {"n": n}

    app = FastAPI()
    install_error_handlers(app)
    include_hot(app, hot)
    kinds = [
        (type(route).__name__, route.path, sorted(route.methods))
        for route in app.router.routes
        if getattr(route, "path", None) == "/hot"
    ]
    assert kinds == [
        ("BareRoute", "/hot", ["POST"]),
        ("APIRoute", "/hot", ["POST"]),
        ("APIRoute", "/hot", ["GET"]),
    ]
    assert app.openapi()["paths"]["/hot"]["post"]["summary"] == "Read by hand"

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.post("/hot", content=b"{}")).status_code == 201
        assert isinstance(seen[-1], BareRoute) and seen[-1].path == "/hot"
        refused = await client.post("/hot", content=b"bad")
        assert refused.status_code == 422 and refused.json()["code"] == "validation_error"
        assert (await client.get("/hot", params={"n": 3})).json() == {"n": 3}
        wrong = await client.put("/hot")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
