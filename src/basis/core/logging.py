"""structlog set-up: JSON lines in prod, readable lines in dev, the request id in every line."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

import structlog

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_KEYS = ("password", "token", "secret", "authorization", "cookie", "api_key", "signature")


def _add_request_id(_logger: object, _name: str, event: dict) -> dict:
    request_id = request_id_var.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _redact(_logger: object, _name: str, event: dict) -> dict:
    # A last line of defence: code should never log secrets, but if a key that names one
    # slips into a log call, its value is not written.
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    # Plain tracebacks in both modes: rich's pretty tracebacks print local variables (a
    # password in a frame would reach the log) and take seconds to render.
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        # Below the level, an event is dropped before any processor formats it (the access
        # line of every request at WARNING, say).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
        logging.getLogger(name).addFilter(strip_query_strings)
    # Our middleware writes one access line per request with the request id.
    logging.getLogger("uvicorn.access").disabled = True
    # Database drivers log each statement with its parameters at DEBUG (aiosqlite does): password
    # hashes, token digests and invite codes would reach the log. They speak from INFO up.
    for name in ("aiosqlite", "asyncmy", "psycopg"):
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


def strip_query_strings(record: logging.LogRecord) -> bool:
    """uvicorn logs each socket handshake with its path and query string, and some clients can
    only send their access token as ``?token=``: a logged path keeps no query string."""
    if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
        record.args = tuple(
            a.split("?", 1)[0] if isinstance(a, str) and a.startswith("/") else a for a in record.args
        )
    return True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
