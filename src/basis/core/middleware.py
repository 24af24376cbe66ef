"""Pure ASGI middleware: request context, security headers, body limits, metrics, access log."""

from __future__ import annotations

import bisect
import functools
import logging
import random
import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from basis.core.logging import get_logger, request_id_var
from basis.settings import host_name

log = get_logger("basis.http")

_access = logging.getLogger("basis.http")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_INTERNAL_ERROR = b'{"detail":"Internal server error","code":"internal_error","request_id":"%s"}'


def _json_response(status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])},
        {"type": "http.response.body", "body": body},
    ]


class RequestMetrics:
    """``basis_http_requests_total`` and ``basis_http_request_duration_seconds``, counted in
    plain dictionaries and turned into Prometheus metrics only when ``/metrics`` is scraped:
    prometheus_client's children take a lock and search their buckets on every request, about
    as long as the rest of this middleware. One event loop per process writes them, so a
    scrape (on the same loop) never sees half an update."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        """Per label pair: one count per bucket (the last one is +Inf), then the sum."""

    def observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        self._counts[key] = self._counts.get(key, 0) + 1
        cells = self._latency.get((method, route))
        if cells is None:
            cells = self._latency[(method, route)] = [0.0] * (len(LATENCY_BUCKETS) + 2)
        cells[bisect.bisect_left(LATENCY_BUCKETS, elapsed)] += 1
        cells[-1] += elapsed

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "basis_http_requests", "HTTP requests", labels=["method", "route", "status"]
        )
        for (method, route, status), value in list(self._counts.items()):
            counts.add_metric([method, route, str(status)], value)
        yield counts
        latency = HistogramMetricFamily(
            "basis_http_request_duration_seconds", "HTTP request latency", labels=["method", "route"]
        )
        for (method, route), cells in list(self._latency.items()):
            running, buckets = 0.0, []
            for bound, count in zip([*map(str, LATENCY_BUCKETS), "+Inf"], cells[:-1], strict=True):
                running += count
                buckets.append((bound, running))
            latency.add_metric([method, route], buckets, sum_value=cells[-1])
        yield latency


_METRICS = RequestMetrics()
REGISTRY.register(_METRICS)
_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_PAGE_CSP = (b"content-security-policy", b"frame-ancestors 'none'")
_API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# Basis's own small pages (the reset page): their script and style files from Basis only,
# no inline script, requests to Basis only.
_OWN_PAGE_CSP = (
    b"content-security-policy",
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
)
OWN_PAGES = ("/reset-password",)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
_NOT_ALLOWED = b'{"detail":"Method Not Allowed","code":"method_not_allowed"}'
_NUL_IN_URL = b'{"detail":"Text must not contain NUL characters","code":"validation_error"}'
_TOO_LARGE = b'{"detail":"Request body too large","code":"body_too_large"}'
_BAD_HOST = b'{"detail":"This server does not answer to that Host","code":"invalid_host"}'
# Probes and scrapers reach these by whatever address they have (a container's 127.0.0.1, a
# pod's IP); they build no link from the Host, so they answer to any.
_ANY_HOST_PATHS = ("/health", "/metrics")


@functools.lru_cache(maxsize=256)
def _host_allowed(raw: bytes, hosts: frozenset[str]) -> bool:
    return host_name(raw.decode("latin-1")) in hosts


class EdgeMiddleware:
    """Everything a request meets before the app, in one pass instead of nested wrappers:
    request id (``X-Request-ID`` in and out, and in every log line), one access-log line,
    metrics, a JSON 500 that carries no stack trace, security headers (nosniff, referrer policy,
    frame-ancestors, HSTS over HTTPS; TRACE refused), 413 for bodies over the limit whether
    announced or streamed, 422 for NUL characters in the URL or in JSON and form bodies, and
    400 for a Host header outside ``hosts`` (so that no redirect or form action is ever built
    from an attacker's Host)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        https: bool,
        admin_prefix: str = "/admin",
        own_body_limit: tuple[tuple[str, str], ...] = (),
        hosts: frozenset[str] | None = None,
    ) -> None:
        """``own_body_limit``: (method, path prefix) pairs whose route limits its body itself
        (signed uploads), exempt from ``max_bytes`` and the NUL search. ``hosts``: the host names
        served (None: any)."""
        self.app = app
        self.hosts = hosts
        self.max_bytes = max_bytes
        self.https = https
        self.admin_prefix = admin_prefix
        self.own_body_limit = own_body_limit
        self._exempt: dict[str, tuple[str, ...]] = {}
        for method, prefix in own_body_limit:
            self._exempt[method] = (*self._exempt.get(method, ()), prefix)
        # The security headers of each kind of response, built once: (kind, https?) -> headers.
        csp = {"api": _API_CSP, "panel": _PAGE_CSP, "own": _OWN_PAGE_CSP}
        self._headers = {
            (kind, tls): (*_SECURITY, policy, *((_HSTS,) if tls else ()))
            for kind, policy in csp.items()
            for tls in (False, True)
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        incoming = length = content_type = None
        host = b""
        chunked = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = True
        request_id = incoming.decode("latin-1") if incoming is not None else ""
        if not request_id or not _REQUEST_ID_OK.match(request_id):
            # An id, not a secret: no system call per request (random reseeds after a fork).
            request_id = f"{random.getrandbits(128):032x}"
        token = request_id_var.set(request_id)
        bad_host = (
            self.hosts is not None
            and not _host_allowed(host, self.hosts)
            and not scope["path"].startswith(_ANY_HOST_PATHS)
        )
        try:
            if kind == "websocket":
                if bad_host:
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id, length, content_type, chunked, bad_host)
        finally:
            request_id_var.reset(token)

    async def _http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        length: bytes | None,
        content_type: bytes | None,
        chunked: bool,
        bad_host: bool = False,
    ) -> None:
        started = time.perf_counter()
        status = 500
        response_started = False
        path: str = scope["path"]
        kind = (
            "panel"
            if path.startswith((self.admin_prefix, "/docs", "/redoc"))
            else "own"
            if path.startswith(OWN_PAGES)
            else "api"
        )
        extra = (
            *self._headers[kind, self.https or scope.get("scheme") == "https"],
            (b"x-request-id", request_id.encode()),
        )

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"server"]
                headers += extra
                message["headers"] = headers
            await send(message)

        try:
            prefixes = self._exempt.get(scope["method"])
            exempt = prefixes is not None and path.startswith(prefixes)
            refusal = (
                (400, _BAD_HOST, []) if bad_host else self._refusal(scope, path, None if exempt else length)
            )
            if refusal is not None:
                for message in _json_response(*refusal):
                    await send_wrapper(message)
            elif exempt or (length is None and not chunked):
                # No body, or one its route limits: nothing to count or search here.
                await self.app(scope, receive, send_wrapper)
            else:
                await self._with_body(scope, receive, send_wrapper, content_type, lambda: response_started)
        except Exception:
            log.exception("unhandled_error", path=path, method=scope.get("method"))
            if not response_started:
                body = _INTERNAL_ERROR % request_id.encode()
                for message in _json_response(500, body):
                    await send_wrapper(message)
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            _METRICS.observe(method, route_path, status, elapsed)
            if _access.isEnabledFor(logging.INFO) and not path.startswith(("/health", "/metrics")):
                log.info("request", method=method, path=path, status=status, ms=round(elapsed * 1000, 2))

    def _refusal(
        self, scope: Scope, path: str, length: bytes | None
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        if scope["method"] in ("TRACE", "TRACK"):
            return 405, _NOT_ALLOWED, [(b"allow", b"GET, POST, PUT, PATCH, DELETE")]
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return 413, _TOO_LARGE, []
        if b"%00" in scope.get("query_string", b"") or "\x00" in path:
            return 422, _NUL_IN_URL, []
        return None

    async def _with_body(
        self, scope: Scope, receive: Receive, send: Send, content_type: bytes | None, started: Any
    ) -> None:
        markers = _NUL_MARKERS.get((content_type or b"").split(b";")[0].strip().lower(), ())
        received = 0
        tail = b""

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

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            if not started():
                for message in _json_response(413, _TOO_LARGE):
                    await send(message)
        except NulCharacter as exc:
            if not started():
                body = b'{"detail":"%s","code":"validation_error"}' % exc.detail.encode()
                for message in _json_response(422, body):
                    await send(message)


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
