"""HTTP for TimeTracker's devices and screens: the terminal protocol (X-Terminal-Key), the
/api/login alias and the live scan feed. The staff API (Bearer) is in ``staff_router``,
``reports_router``, ``schedules_router``, ``terminals_router`` and ``audit_router``. Thin: every
rule is in a service module."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Request, Response, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from basis.apps.timetracker import terminal
from basis.apps.timetracker.dependencies import TERMINAL_KEY_SCHEME, CurrentTerminal, scan_pipeline
from basis.apps.timetracker.schemas import (
    BatchIn,
    BatchOut,
    ChallengeIn,
    ChallengeOut,
    FirstScanIn,
    FirstScanOut,
    HeartbeatOut,
    LoginIn,
    LoginOut,
    NfcIn,
    NfcOut,
    ScanIn,
    ScanResult,
    SecureScanIn,
)
from basis.core import outage
from basis.core.deps import ClientIP, InfraDep, SessionDep, SettingsDep
from basis.core.errors import BasisError, Unprocessable
from basis.core.http import (
    code_for_status,
    documented_body,
    json_response,
    read_json_body,
    validation_detail,
)
from basis.core.realtime.sockets import serve_socket
from basis.identity.sockets import AccessGuard


def _retry_headers(answer: Response) -> dict[str, str]:
    return {"Retry-After": answer.headers["retry-after"]} if "retry-after" in answer.headers else {}


class TerminalRoute(APIRoute):
    """A terminal call: every refusal is ``{ok: false, code, detail}`` as the protocol promises,
    the core's answers to a malformed body (422 field errors, 400) included. The staff API
    keeps the core's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def terminal_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                raise Unprocessable(
                    validation_detail(error), code="validation_error", extra={"ok": False}
                ) from None
            except StarletteHTTPException as error:
                body = {"ok": False, "code": code_for_status(error.status_code), "detail": error.detail}
                return JSONResponse(body, status_code=error.status_code, headers=error.headers)
            except BasisError as error:
                if "ok" not in error.extra:
                    error.extra = {**error.extra, "ok": False}
                raise
            except outage.HANDLED as error:  # the database or Redis is out of reach: 503
                answer = await outage.dependency_unavailable(request, error)
                body = {"ok": False, **json.loads(answer.body)}
                return JSONResponse(body, status_code=answer.status_code, headers=_retry_headers(answer))

        return terminal_handler


terminal_router = APIRouter(prefix="/api", tags=["timetracker: terminals"], route_class=TerminalRoute)
public_router = APIRouter(prefix="/api", tags=["timetracker"])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "unknown_terminal"},
    403: {"description": "terminal_inactive, terminal_mismatch, employee_inactive, signature_required, ..."},
    404: {"description": "unknown_card"},
    409: {"description": "idempotency_conflict"},
    400: {"description": "bad_request: a body that cannot be decoded"},
    422: {"description": "clock_skew, invalid_uid, invalid_direction, validation_error"},
    429: {"description": "rate_limited (per terminal: calls, and the items of batches)"},
}


# ------------------------------------------------------------------------ terminal protocol


# The two scan routes are the hot path: they check the terminal's key and read their body by
# hand (core.http.read_json_body), before and without FastAPI's dependency machinery, which
# would cost more than the rest of the request. Answers and docs stay FastAPI's.
T = TypeVar("T")
_SCAN_IN = TypeAdapter(ScanIn)
_BATCH_IN = TypeAdapter(BatchIn)
_NFC_IN = TypeAdapter(NfcIn)


async def _scanning(
    request: Request, body: TypeAdapter[T]
) -> tuple[terminal.Pipeline, terminal.TerminalCtx, T]:
    """The caller's terminal (401/403/429 first), then the body (422)."""
    pipeline = scan_pipeline(request)
    ctx = await pipeline.terminal(request.headers.get("x-terminal-key"))
    try:
        return pipeline, ctx, await read_json_body(request, body)
    except (RequestValidationError, StarletteHTTPException):
        await pipeline.confirm(ctx)  # a remembered key gets no answer the database would refuse
        if body is _SCAN_IN or body is _NFC_IN:
            terminal.count_refusal("validation_error")
        raise


@terminal_router.post(
    "/terminal/scan",
    response_model=ScanResult,
    responses=_REFUSALS,
    openapi_extra=documented_body(ScanIn, TERMINAL_KEY_SCHEME),
)
async def terminal_scan(request: Request) -> Response:
    pipeline, ctx, payload = await _scanning(request, _SCAN_IN)
    return json_response(await terminal.scan(pipeline, ctx, payload))


@terminal_router.post(
    "/terminal/scans",
    response_model=BatchOut,
    responses=_REFUSALS,
    openapi_extra=documented_body(BatchIn, TERMINAL_KEY_SCHEME),
)
async def terminal_scans(request: Request) -> Response:
    pipeline, ctx, payload = await _scanning(request, _BATCH_IN)
    await terminal.check_item_budget(
        ctx, len(payload.scans), infra=pipeline.infra, settings=pipeline.settings
    )
    return json_response(BatchOut(results=await terminal.scan_batch(pipeline, ctx, payload.scans)))


@terminal_router.post(
    "/nfc",
    response_model=NfcOut,
    responses=_REFUSALS,
    openapi_extra=documented_body(NfcIn, TERMINAL_KEY_SCHEME),
)
async def nfc_scan(request: Request) -> Response:
    """The original's tap route: ``{nfc_uid, direction, ts?}``, decided exactly as
    ``/api/terminal/scan`` decides, answered as the original did."""
    pipeline, ctx, payload = await _scanning(request, _NFC_IN)
    return json_response(await terminal.nfc(pipeline, ctx, payload))


@terminal_router.post("/terminal/challenge", response_model=ChallengeOut, responses=_REFUSALS)
async def terminal_challenge(
    ctx: CurrentTerminal, infra: InfraDep, payload: Annotated[ChallengeIn | None, Body()] = None
) -> ChallengeOut:
    terminal.check_terminal_id(ctx, payload.terminal_id if payload is not None else None)
    return await terminal.issue_challenge(ctx, infra=infra)


@terminal_router.post(
    "/terminal/secure-scan", response_model=ScanResult, response_model_exclude_none=True, responses=_REFUSALS
)
async def terminal_secure_scan(
    payload: SecureScanIn, ctx: CurrentTerminal, session: SessionDep, request: Request
) -> ScanResult:
    return await terminal.secure_scan(scan_pipeline(request), session, ctx, payload)


@terminal_router.post(
    "/register/first-scan", status_code=202, response_model=FirstScanOut, responses=_REFUSALS
)
async def register_first_scan(
    payload: FirstScanIn, ctx: CurrentTerminal, session: SessionDep
) -> FirstScanOut:
    return await terminal.first_scan(session, ctx, payload)


@terminal_router.post("/terminal/heartbeat", response_model=HeartbeatOut, responses=_REFUSALS)
async def terminal_heartbeat(
    ctx: CurrentTerminal, session: SessionDep, settings: SettingsDep
) -> HeartbeatOut:
    return await terminal.heartbeat(session, ctx, settings=settings)


# ------------------------------------------------------------------- login alias, live feed


@public_router.post(
    "/login",
    response_model=LoginOut,
    responses={401: {"description": "invalid_credentials"}, 429: {"description": "rate_limited"}},
)
async def login(
    payload: LoginIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    ip: ClientIP,
) -> LoginOut:
    """The original's login: ``{username, password}`` (a username or an email) -> a bearer token."""
    from basis.identity.events import Meta
    from basis.identity.login import authenticate_login

    issued = await authenticate_login(
        session=session,
        settings=settings,
        infra=infra,
        identifier=payload.username,
        password=payload.password,
        meta=Meta(ip=ip, user_agent=request.headers.get("user-agent"), device="timetracker"),
        channel="timetracker",
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return LoginOut(
        access_token=issued.access_token,
        token_type="bearer",  # noqa: S106 - the scheme name, not a secret
        expires_in=issued.expires_in,
        role=issued.user.role,
    )


_STAFF_FEED = AccessGuard(roles=("operator",))


@public_router.websocket("/ws/scans")
async def ws_scans(websocket: WebSocket) -> None:
    """Accepted scans as they happen, for admins and operators (any server process).

    The original client sends its token as ``?token=``; a header or ``Sec-WebSocket-Protocol:
    bearer, <token>`` works too. A bad token closes with 1008; a revoked session or deactivated
    account closes an open feed with 4401, a lost staff role with 1008."""
    await serve_socket(
        websocket,
        hub=websocket.app.state.infra.hub,
        guard=_STAFF_FEED,
        topics=[terminal.SCAN_TOPIC],
        allow_query_token=True,
    )
