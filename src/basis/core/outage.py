"""Calls that cannot reach a dependency: a 503 the client can act on, one log line per outage.

When PostgreSQL, MariaDB, a locked or full SQLite file, or Redis cannot serve a request, the
request did not fail because of anything the client sent: it answers 503 with ``Retry-After``
and the stable code ``unavailable``, never a 500. The log gets one line when a dependency starts
failing and one summary line at most every ``QUIET_SECONDS`` while it goes on (an outage under
load would otherwise write a traceback per request); ``basis_dependency_failures_total`` counts
every failed call.
"""

from __future__ import annotations

import time

from fastapi import Request
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from basis.core.logging import get_logger

log = get_logger("basis.outage")

RETRY_AFTER_SECONDS = 5
QUIET_SECONDS = 30.0

FAILURES = Counter(
    "basis_dependency_failures", "Calls answered 503 because a dependency failed", ["dependency"]
)

DATABASE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, PoolTimeout)
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)
NETWORK_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
"""A driver's own socket errors that reach the app unwrapped (a refused connect, a timeout)."""

HANDLED = (*DATABASE_ERRORS, *REDIS_ERRORS, *NETWORK_ERRORS)

_BODY = {
    "database": "The database cannot be reached just now; try again shortly",
    "redis": "A shared service (Redis) cannot be reached just now; try again shortly",
    "network": "A service Basis depends on cannot be reached just now; try again shortly",
}


def dependency_of(exc: BaseException) -> str:
    if isinstance(exc, DATABASE_ERRORS):
        return "database"
    if isinstance(exc, REDIS_ERRORS):
        return "redis"
    return "network"


class OutageLog:
    """One line when a dependency starts failing, then a count at most every QUIET_SECONDS."""

    def __init__(self) -> None:
        self._last_line: dict[str, float] = {}
        self._unreported: dict[str, int] = {}

    def failed(self, exc: BaseException, where: str) -> None:
        """Counts a call that ``exc`` (one of HANDLED) failed at ``where`` (a path, a task)."""
        dependency = dependency_of(exc)
        FAILURES.labels(dependency).inc()
        now = time.monotonic()
        last = self._last_line.get(dependency)
        if last is not None and now - last < QUIET_SECONDS:
            self._unreported[dependency] = self._unreported.get(dependency, 0) + 1
            return
        since = self._unreported.pop(dependency, 0)
        self._last_line[dependency] = now
        # The first line of the driver's message: the cause without a traceback or a statement.
        reason = (str(getattr(exc, "orig", None) or exc) or type(exc).__name__).splitlines()[0][:300]
        log.warning(
            "dependency unavailable",
            dependency=dependency,
            error=type(exc).__name__,
            reason=reason,
            path=where,
            failed_since_last_line=since,
        )


OUTAGES = OutageLog()


async def dependency_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The exception handler for HANDLED: 503 ``unavailable`` with Retry-After."""
    OUTAGES.failed(exc, request.url.path)
    return JSONResponse(
        {"detail": _BODY[dependency_of(exc)], "code": "unavailable"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
