"""The scenario API of the bench; bench/README.md shows how to add a module.

A module here exposes ``SCENARIOS: list[Scenario | Timed]`` and, when it needs apps enabled,
``APPS: list[str]``. ``Scenario`` is HTTP load driven by wrk; ``Timed`` times single calls.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

Setup = Callable[["BenchContext"], Awaitable[dict[str, Any]]]
"""Prepares data before a scenario runs and returns what the run needs, any of:
``headers`` (merged over the scenario's), ``body``, ``path``, ``lua_vars`` (Lua globals for the
wrk script), and for a ``Timed`` any other key its ``call`` reads."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """HTTP load: wrk drives ``method path`` for the run's duration from a second process."""

    name: str
    path: str = "/health"
    method: str = "GET"
    body: Any = None
    """A dict or list is sent as JSON; a str as it is (set Content-Type yourself)."""
    headers: dict[str, str] = field(default_factory=dict)
    setup: Setup | None = None
    body_lua: str | None = None
    """A Lua expression evaluated for every request to build its body; ``n`` is a counter unique
    across wrk threads (1, 2, 3, ...), e.g. ``'{"uid": "emp-' .. (n % 1000) .. '"}'``."""
    lua: str | None = None
    """A whole wrk script (it defines ``request()``), for what ``body_lua`` cannot say. The
    harness puts ``bench`` (method, path, headers, body), ``bench_next()`` (the unique counter)
    and the ``lua_vars`` globals before it."""
    connections: int | None = None
    """Overrides ``--connections`` (e.g. a few for a CPU-bound call such as a password hash)."""
    timeout: int | None = None
    """wrk's per-request timeout in seconds (its default is 2)."""
    expect: int = 200
    """The status every response should have; a 2xx counts 4xx/5xx answers as errors, a
    non-2xx (e.g. 401) is checked once before the run and not counted as an error."""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Timed:
    """Not load: ``call`` is awaited ``repeat`` times one after another (after ``warmup``
    untimed calls); the median is reported next to the floor's p50 latency. ``check``, when
    given, gets what each call returned after its clock stopped (parse and assert there)."""

    name: str
    call: Callable[[BenchContext, dict[str, Any]], Awaitable[Any]]
    setup: Setup | None = None
    repeat: int = 10
    warmup: int = 1
    note: str = ""
    check: Callable[[Any], None] | None = None


class BenchContext:
    """What a setup or a timed call gets: the running server, its database and helpers."""

    def __init__(
        self,
        *,
        base_url: str,
        client: httpx.AsyncClient,
        backend: str,
        database_url: str,
        env: dict[str, str],
        tmp: Path,
        admin_email: str,
        admin_password: str,
        run_cli: Callable[..., Awaitable[str]],
    ) -> None:
        self.base_url = base_url
        self.client = client
        """httpx.AsyncClient with ``base_url`` set to the server under test."""
        self.backend = backend
        """``sqlite``, ``postgresql`` or ``mariadb``."""
        self.database_url = database_url
        self.env = env
        """The server's environment (BASIS_* settings)."""
        self.tmp = tmp
        """A scratch folder removed when the run ends."""
        self.state: dict[str, Any] = {}
        """Shared between setups of one run, e.g. to reuse data prepared by an earlier one."""
        self.admin_email = admin_email
        self.admin_password = admin_password
        self._run_cli = run_cli
        self._db: Any = None
        self._admin_headers: dict[str, str] | None = None

    async def cli(self, *args: str, time_limit: float = 900) -> str:
        """Run ``basis <args>`` with the server's settings; returns its output, raises on failure."""
        return await self._run_cli(*args, time_limit=time_limit)

    async def register(self, email: str | None = None, password: str | None = None) -> dict[str, Any]:
        """A fresh user (role ``user``) through ``POST /auth/register``; returns the response body
        plus ``email``, ``password`` and ``headers`` (Bearer)."""
        email = email or f"bench-{secrets.token_hex(6)}@example.com"
        password = password or "bench-" + secrets.token_urlsafe(12)
        response = await self.client.post("/auth/register", json={"email": email, "password": password})
        if response.status_code != 201:
            raise RuntimeError(f"register answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        return {**body, "email": email, "password": password, "headers": _bearer(body["access_token"])}

    async def login(self, login: str, password: str) -> dict[str, str]:
        """Bearer headers for an existing account through ``POST /auth/login``."""
        response = await self.client.post("/auth/login", json={"email": login, "password": password})
        if response.status_code != 200:
            raise RuntimeError(f"login answered {response.status_code}: {response.text[:300]}")
        return _bearer(response.json()["access_token"])

    async def admin_headers(self) -> dict[str, str]:
        """Bearer headers of the admin the server created on first start (BASIS_ADMIN_EMAIL)."""
        if self._admin_headers is None:
            self._admin_headers = await self.login(self.admin_email, self.admin_password)
        return self._admin_headers

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """An AsyncSession on the bench database, for setups that insert a lot at once."""
        if self._db is None:
            from basis.core.db import Database

            self._db = Database(self.database_url, pool_size=2)
        async with self._db.sessionmaker() as session:
            yield session

    async def analyze(self, *tables: str) -> None:
        """Fresh planner statistics after a bulk load, as an operator runs after an import: a
        table filled a second ago looks empty to the planner until autovacuum gets to it."""
        from sqlalchemy import text

        names = ", ".join(tables)
        statement = {"postgresql": f"ANALYZE {names}", "mariadb": f"ANALYZE TABLE {names}"}
        async with self.session() as session:
            await session.execute(text(statement.get(self.backend, "ANALYZE")))
            await session.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.dispose()
            self._db = None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
