"""Pure ASGI middleware: request context, security headers, body limits, metrics, access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from basis.core.logging import get_logger, request_id_var

log = get_logger("basis.http")

REQUESTS = Counter("basis_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "basis_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_INTERNAL_ERROR = b'{"detail":"Internal server error","code":"internal_error","request_id":"%s"}'


def _json_response(status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])},
        {"type": "http.response.body", "body": body},
    ]


class RequestContextMiddleware:
    """Request id, one access-log line, metrics, and a JSON 500 that carries no stack trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unhandled_error", path=scope.get("path"), method=scope.get("method"))
            if scope["type"] == "http" and not response_started:
                body = _INTERNAL_ERROR % request_id.encode()
                for message in _json_response(500, body, [(b"x-request-id", request_id.encode())]):
                    await send(message)
            status = 500
        finally:
            if scope["type"] == "http":
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                route_path = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "")
                REQUESTS.labels(method, route_path, str(status)).inc()
                LATENCY.labels(method, route_path).observe(elapsed)
                if log.isEnabledFor(logging.INFO) and not scope["path"].startswith(("/health", "/metrics")):
                    log.info(
                        "request",
                        method=method,
                        path=scope["path"],
                        status=status,
                        ms=round(elapsed * 1000, 2),
                    )
            request_id_var.reset(token)


class SecurityHeadersMiddleware:
    """nosniff, referrer policy, frame-ancestors, HSTS over HTTPS; refuses TRACE."""

    def __init__(self, app: ASGIApp, *, https: bool, admin_prefix: str = "/admin") -> None:
        self.app = app
        self.https = https
        self.admin_prefix = admin_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("TRACE", "TRACK"):
            body = b'{"detail":"Method Not Allowed","code":"method_not_allowed"}'
            for message in _json_response(405, body, [(b"allow", b"GET, POST, PUT, PATCH, DELETE")]):
                await send(message)
            return
        https = self.https or scope.get("scheme") == "https"
        path: str = scope["path"]
        is_page = path.startswith((self.admin_prefix, "/docs", "/redoc"))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                    (b"x-frame-options", b"DENY"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if is_page:
                    headers.append((b"content-security-policy", b"frame-ancestors 'none'"))
                else:
                    headers.append(
                        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
                    )
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyTooLarge(HTTPException):
    # An HTTPException so that FastAPI's body parsing passes it through as a 413 instead of
    # turning it into "error parsing the body".
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Request body too large")


class NulCharacter(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=422, detail="Text must not contain NUL characters (\\u0000)")


# PostgreSQL cannot store NUL in text, and no client of ours has a reason to send one: refuse
# it once here for every app instead of a 500 deep in a query.
_NUL_MARKERS = {
    b"application/json": (b"\\u0000", b"\x00"),
    b"application/x-www-form-urlencoded": (b"%00", b"\x00"),
}


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed; 422 for
    NUL characters in the query string or in JSON and form bodies."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
            body = b'{"detail":"Text must not contain NUL characters","code":"validation_error"}'
            for message in _json_response(422, body):
                await send(message)
            return
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        markers = _NUL_MARKERS.get(content_type, ())
        received = 0
        tail = b""
        started = False

        async def limited_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.max_bytes:
                    raise BodyTooLarge
                if markers:
                    window = tail + chunk
                    for marker in markers:
                        if marker in window:
                            raise NulCharacter
                    tail = window[-8:]
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)
        except NulCharacter as exc:
            if not started:
                body = b'{"detail":"%s","code":"validation_error"}' % exc.detail.encode()
                for message in _json_response(422, body):
                    await send(message)

    async def _refuse(self, send: Send) -> None:
        body = b'{"detail":"Request body too large","code":"body_too_large"}'
        for message in _json_response(413, body):
            await send(message)
