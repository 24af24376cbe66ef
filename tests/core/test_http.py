from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from basis import __version__

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_health_is_ok_and_carries_the_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


async def test_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok"}


async def test_ready_is_503_when_the_database_is_down(client: httpx.AsyncClient) -> None:
    from basis.core.db import Database

    app = client.app  # type: ignore[attr-defined]
    working = app.state.db
    app.state.db = Database("postgresql://nobody@127.0.0.1:1/none")
    try:
        response = await client.get("/health/ready")
    finally:
        await app.state.db.dispose()
        app.state.db = working
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "down"
    assert response.json()["code"] == "unavailable"


async def test_ready_reports_redis(make_client: ClientFactory, redis_url: str) -> None:
    async with make_client(redis_url=redis_url) as client:
        assert (await client.get("/health/ready")).json()["checks"] == {"database": "ok", "redis": "ok"}
        # Redis going away while serving: readiness says so.
        from redis.asyncio import Redis

        app = client.app  # type: ignore[attr-defined]
        working, app.state.infra.redis = app.state.infra.redis, Redis.from_url("redis://127.0.0.1:1/0")
        try:
            response = await client.get("/health/ready")
        finally:
            await app.state.infra.redis.aclose()
            app.state.infra.redis = working
        assert response.status_code == 503
        assert response.json()["checks"]["redis"] == "down"


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["version"] == __version__
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200


PROD_SECRETS = {
    "env": "prod",
    "jwt_secrets": ["J" + "q7#Lm2$vX9!pR4&w" * 3],
    "admin_session_secret": "A" + "z8@Kp3%nW6^tY1*e" * 3,
    "password_hash_profile": "production",
}


async def test_metrics_are_closed_in_prod_until_a_token_or_a_network_is_set(
    make_client: ClientFactory,
) -> None:
    # Issue 12.19: /metrics was open to anyone in prod.
    async with make_client(**PROD_SECRETS) as client:
        closed = await client.get("/metrics")
        assert closed.status_code == 403 and closed.json()["code"] == "metrics_closed"
        assert "BASIS_METRICS_TOKEN" in closed.json()["detail"]
    async with make_client(**PROD_SECRETS, metrics_token="m" * 40) as client:
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
        assert ok.status_code == 200 and "basis_http_requests_total" in ok.text
    # The in-process client calls from 127.0.0.1.
    async with make_client(**PROD_SECRETS, metrics_networks=["10.0.0.0/8", "127.0.0.1"]) as client:
        assert (await client.get("/metrics")).status_code == 200
    async with make_client(**PROD_SECRETS, metrics_networks=["10.0.0.0/8"]) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    async with make_client(**PROD_SECRETS, metrics_networks=["10.0.0.0/8"], metrics_token="m" * 40) as client:
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
        assert ok.status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_work_on_a_closed_network(client: httpx.AsyncClient, page: str) -> None:
    # Issue 12.6: the pages loaded Swagger UI and ReDoc from a CDN and were blank offline.
    import re
    from urllib.parse import urljoin, urlsplit

    html = (await client.get(page)).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""", html)
    urls += re.findall(r"https?://[^\s'\"<>)]+", html)
    hosts = {urlsplit(urljoin("http://testserver/", u)).hostname for u in urls}
    assert hosts <= {"testserver"}, hosts
    assets = [u for u in urls if u.endswith((".js", ".css"))]
    assert assets and all(a.startswith("/docs/assets/") for a in assets), urls
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200 and len(response.content) > 10_000, asset
        kind = "javascript" if asset.endswith(".js") else "css"
        assert kind in response.headers["content-type"], asset
    assert "/openapi.json" in html


async def test_unknown_route_is_404_in_the_one_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "code": "not_found"}


async def test_trace_is_405(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/nowhere"):
        response = await client.request("TRACE", path)
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


async def test_malformed_json_and_wrong_types_are_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    bad_json = await client.post(
        "/example/notes", content=b'{"text": ', headers={**admin_headers, "content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    assert bad_json.json()["code"] == "validation_error"
    wrong_type = await client.post("/example/notes", json={"text": {"a": 1}}, headers=admin_headers)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["detail"][0]["loc"] == ["body", "text"]


async def test_oversized_bodies_are_413(make_client: ClientFactory, admin_headers: dict[str, str]) -> None:
    async with make_client(max_body_bytes=2048) as client:
        big = {"text": "x" * 5000}
        announced = await client.post("/example/notes", json=big, headers=admin_headers)
        assert announced.status_code == 413
        assert announced.json() == {"detail": "Request body too large", "code": "body_too_large"}

        async def stream() -> AsyncIterator[bytes]:
            yield b'{"text": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        streamed = await client.post(
            "/example/notes", content=stream(), headers={**admin_headers, "content-type": "application/json"}
        )
        assert streamed.status_code == 413


async def test_a_crash_is_a_500_without_a_trace_but_with_the_request_id(
    make_app: Callable[..., Any], _clean_tables: None
) -> None:
    from tests.conftest import _app_client

    app = make_app()

    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    async with _app_client(app) as client:
        response = await client.get("/boom", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal server error",
        "code": "internal_error",
        "request_id": "req-123",
    }
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-123"


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health", headers={"X-Request-ID": "abc-1"})).headers["x-request-id"] == "abc-1"
    generated = (await client.get("/health", headers={"X-Request-ID": "bad id <script>"})).headers[
        "x-request-id"
    ]
    assert len(generated) == 32 and generated != "bad id"


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/missing"):
        headers = (await client.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"]
        assert "server" not in headers
        assert "strict-transport-security" not in headers  # plain HTTP


async def test_hsts_when_served_over_https(make_client: ClientFactory) -> None:
    async with make_client(public_url="https://basis.example") as client:
        headers = (await client.get("/health")).headers
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_cors_allows_only_listed_origins(make_client: ClientFactory) -> None:
    async with make_client(cors_origins=["https://app.example"]) as client:
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        allowed = await client.options("/auth/login", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_metrics_are_prometheus_text_and_can_be_protected(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await client.get("/health")
        text = (await client.get("/metrics")).text
        assert 'basis_http_requests_total{method="GET",route="/health",status="200"}' in text
    async with make_client(metrics_token="m" * 40) as client:
        assert (await client.get("/metrics")).status_code == 401
        ok = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
        assert ok.status_code == 200
    async with make_client(metrics_enabled=False) as client:
        assert (await client.get("/metrics")).status_code == 404


@pytest.mark.parametrize("path", ["/example/notes"])
async def test_routes_are_authenticated_by_default(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": NaN}',
        b'{"text": 1e999999}',
        b'{"text": "\\ud800"}',
        b'{"text": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
    ids=["nan", "infinity", "lone-surrogate", "deeply-nested"],
)
async def test_hostile_json_is_a_4xx_never_a_500(
    client: httpx.AsyncClient, admin_headers: dict[str, str], body: bytes
) -> None:
    response = await client.post(
        "/example/notes", content=body, headers={**admin_headers, "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"] in ("validation_error", "bad_request")


async def test_nul_characters_are_refused_before_any_database_sees_them(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    json_body = await client.post("/example/notes", json={"text": "a\x00b"}, headers=admin_headers)
    assert json_body.status_code == 422
    assert "NUL" in json_body.json()["detail"]
    query = await client.get("/example/notes?q=a%00b", headers=admin_headers)
    assert query.status_code == 422
    form = await client.post(
        "/auth/login",
        content=b"username=a%00b&password=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 422
    listed = await client.get("/example/notes", headers=admin_headers)
    assert listed.json()["total"] == 0
