"""Shared fixtures: every test that touches a database runs on each chosen backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

# Tests never read the developer's or CI's BASIS_* settings: each test states its own.
for _key in [k for k in os.environ if k.startswith("BASIS_") and not k.startswith("BASIS_TEST_")]:
    del os.environ[_key]

from basis.core import migrations  # noqa: E402
from basis.core.apps import enabled_specs  # noqa: E402
from basis.core.db import Database  # noqa: E402
from basis.core.logging import configure_logging  # noqa: E402
from basis.main import create_app  # noqa: E402
from basis.settings import Settings  # noqa: E402
from tests.support import backends as tb  # noqa: E402
from tests.support.live import run_servers  # noqa: E402
from tests.support.server import available_apps  # noqa: E402

pytest_plugins = ["tests.fixtures.auth", "tests.fixtures.outages"]

# The product's log set-up once (apps in tests are built with configure_logs=False so that
# pytest's own log capture stays in place).
configure_logging(json=False, level="WARNING")

TEST_JWT_SECRET = "test-secret-" + "x7Kq9#mZ2!pL4vR8" * 3
TEST_ADMIN_SECRET = "admin-secret-" + "Qw3$eR5^tY7*uI9(" * 3


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if tb.in_ci():
        pytest.fail(f"{message}; CI needs it (.ci/run starts the local services)")
    pytest.skip(f"{message}; start it to run these tests (see README)")


@pytest.fixture(scope="session", params=tb.chosen_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def worker_id_safe(request: pytest.FixtureRequest) -> str:
    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    return f"{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def all_specs() -> list[Any]:
    return enabled_specs(None, available_apps())


@pytest.fixture(scope="session")
def table_names(all_specs: list[Any]) -> list[str]:
    metadata = migrations.target_metadata(all_specs)
    return [t.name for t in reversed(metadata.sorted_tables) if t.name != "alembic_version"]


@pytest.fixture(scope="session")
def test_database(
    backend: str, worker_id_safe: str, tmp_path_factory: pytest.TempPathFactory, all_specs: list[Any]
) -> Iterator[tb.TestDatabase]:
    if backend != "sqlite":
        port = 5432 if backend == "postgresql" else 3306
        if not tb.port_open(tb.SERVER_URLS[backend], port):
            _unavailable(backend)
    tb.sweep_stale_databases(backend)
    database = tb.create_database(backend, worker_id_safe, tmp_path_factory.mktemp(f"db_{backend}"))
    try:
        migrations.upgrade(database.url, all_specs)
        yield database
    finally:
        tb.drop_database(database)


@pytest.fixture
def settings_values(test_database: tb.TestDatabase, tmp_path: Path) -> dict[str, Any]:
    """The settings of a test as BASIS_* values, shared by in-process apps and live servers."""
    return {
        "env": "dev",
        "database_url": test_database.url,
        "data_dir": str(tmp_path / "data"),
        "jwt_secrets": [TEST_JWT_SECRET],
        "admin_session_secret": TEST_ADMIN_SECRET,
        "registration": "open",
        "password_hash_profile": "fast",
        "public_url": "http://testserver",
        # The in-process client says Host: testserver whatever public URL a test chooses.
        "allowed_hosts": ["testserver"],
        "db_pool_size": 10,
        "log_level": "WARNING",
    }


@pytest.fixture
def make_settings(settings_values: dict[str, Any]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return Settings(_env_file=None, **{**settings_values, **overrides})  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def _clean_tables(test_database: tb.TestDatabase, table_names: list[str]) -> AsyncIterator[None]:
    yield
    await tb.empty_tables(test_database.url, table_names)


@asynccontextmanager
async def _app_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
def make_app(make_settings: Callable[..., Settings]) -> Callable[..., FastAPI]:
    def make(**overrides: Any) -> FastAPI:
        return create_app(make_settings(**overrides), available=available_apps(), configure_logs=False)

    return make


@pytest.fixture
def make_client(
    make_app: Callable[..., FastAPI], _clean_tables: None
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    def make(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return _app_client(make_app(**overrides))

    return make


@pytest.fixture
async def client(
    make_client: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as c:
        yield c


@pytest.fixture
def app(client: httpx.AsyncClient) -> FastAPI:
    return client.app  # type: ignore[attr-defined]


@pytest.fixture
async def session(settings: Settings, _clean_tables: None) -> AsyncIterator[AsyncSession]:
    db = Database(settings.resolved_database_url, pool_size=5)
    try:
        async with db.sessionmaker() as s:
            yield s
    finally:
        await db.dispose()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A real Redis database of this pytest worker's own (xdist workers never share one)."""
    if not tb.port_open(tb.REDIS_URL, 6379):
        _unavailable("Redis")
    import redis

    worker = getattr(request.config, "workerinput", {}).get("workerid", "gw0")
    url = tb.REDIS_URL.rsplit("/", 1)[0] + f"/{tb.redis_db(worker)}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def live_servers(
    settings_values: dict[str, Any], tmp_path: Path, _clean_tables: None
) -> Iterator[Callable[..., Any]]:
    """``with live_servers(2, redis_url=...) as urls:`` starts real server processes."""

    def start(count: int = 1, **overrides: Any) -> Any:
        return run_servers(count, {**settings_values, **overrides}, tmp_path)

    yield start
