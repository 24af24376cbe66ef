"""/auth and /users: thin handlers over the identity services."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.errors import NotFound, Unauthorized
from basis.core.pagination import Page, Paging
from basis.core.time import ensure_utc
from basis.core.types import NO_NUL, Id, IsoDateTime
from basis.identity import events, profile, reset, sessions, users
from basis.identity.dependencies import (
    COOKIE_PATH,
    RequestMeta,
    ValidUser,
    check_origin,
    refresh_cookie_name,
)
from basis.identity.deps import AdminUser, CurrentClaims, CurrentUser, authenticate_token
from basis.identity.exceptions import UnsupportedMediaType
from basis.identity.login import authenticate_login
from basis.identity.schemas import (
    AuthEventPublic,
    DetailResponse,
    LoginRequest,
    LoginResponse,
    MeUpdate,
    PasswordChange,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    ResetConfirm,
    ResetRequest,
    Role,
    SessionPublic,
    TokenResponse,
    UserAdminPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from basis.settings import Settings

public_router = APIRouter(prefix="/auth", tags=["auth"])
auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _login_body_schema() -> dict[str, Any]:
    schema = LoginRequest.model_json_schema()
    schema.pop("title", None)
    form = {
        "type": "object",
        "properties": {
            "email": {"type": "string"},
            "username": {"type": "string"},
            "password": {"type": "string", "format": "password"},
        },
        "required": ["password"],
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": form},
            },
        }
    }


async def _read_body(
    request: Request, model: type[BaseModel], *, allow_form: bool, allow_empty: bool = False
) -> Any:
    """The body as ``model`` from JSON (or a form); errors in FastAPI's 422 shape."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: Any
    if allow_form and content_type in FORM_TYPES:
        form = await request.form()
        raw = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        body = await request.body()
        if not body.strip():
            if allow_empty:
                return model()
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        if content_type and content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType("Send JSON" + (" or a form" if allow_form else ""))
        try:
            raw = json.loads(body, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": None}]
            ) from None
    if not isinstance(raw, dict):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "Input should be an object",
                    "input": None,
                }
            ]
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


def _set_refresh_cookie(response: Response, settings: Settings, raw: str) -> None:
    response.set_cookie(
        refresh_cookie_name(settings),
        raw,
        max_age=settings.refresh_token_days * 86400,
        path=COOKIE_PATH,
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def _clear_refresh_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        refresh_cookie_name(settings),
        path=COOKIE_PATH,
        secure=settings.is_https,
        httponly=True,
        samesite="lax",
    )


def _token_response(
    issued: sessions.IssuedSession,
    settings: Settings,
    *,
    status_code: int = 200,
    body_refresh: bool,
    cookie: bool,
    with_user: bool = True,
) -> JSONResponse:
    body: dict[str, Any] = {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "role": issued.user.role,
    }
    if with_user:
        body["user"] = UserPublic.model_validate(issued.user).model_dump(mode="json")
    if body_refresh:
        body["refresh_token"] = issued.refresh_token
    response = JSONResponse(body, status_code=status_code, headers=NO_STORE)
    if cookie:
        _set_refresh_cookie(response, settings, issued.refresh_token)
    return response


# --------------------------------------------------------------------------- public


@public_router.post(
    "/register",
    status_code=201,
    response_model=RegisterResponse,
    responses={403: {"description": "registration_closed"}, 409: {"description": "account_exists"}},
)
async def register(
    request: Request,
    data: RegisterRequest,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> JSONResponse:
    check_origin(request, settings)
    issued = await profile.register(session=session, settings=settings, infra=infra, data=data, meta=meta)
    native = data.client == "native"
    return _token_response(issued, settings, status_code=201, body_refresh=native, cookie=True)


@public_router.post(
    "/login",
    response_model=LoginResponse,
    openapi_extra=_login_body_schema(),
    responses={401: {"description": "invalid_credentials"}, 429: {"description": "rate_limited"}},
)
async def login(
    request: Request, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    check_origin(request, settings)
    data: LoginRequest = await _read_body(request, LoginRequest, allow_form=True)
    meta = events.Meta(ip=meta.ip, user_agent=meta.user_agent, device=data.device)
    issued = await authenticate_login(
        session=session,
        settings=settings,
        infra=infra,
        identifier=data.identifier,
        password=data.password,
        meta=meta,
    )
    native = data.client == "native" and request.headers.get("content-type", "").startswith(
        "application/json"
    )
    return _token_response(issued, settings, body_refresh=native, cookie=True)


@public_router.post(
    "/refresh",
    response_model=TokenResponse,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RefreshRequest.model_json_schema()}},
            "description": "Native clients send the refresh token here; browsers send the cookie.",
        }
    },
    responses={401: {"description": "invalid_token"}, 403: {"description": "origin_not_allowed"}},
)
async def refresh(
    request: Request, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    data: RefreshRequest = await _read_body(request, RefreshRequest, allow_form=False, allow_empty=True)
    if data.refresh_token:
        issued = await sessions.refresh_session(
            session=session, settings=settings, infra=infra, raw_token=data.refresh_token, meta=meta
        )
        return _token_response(issued, settings, body_refresh=True, cookie=False, with_user=False)
    cookie = request.cookies.get(refresh_cookie_name(settings))
    if not cookie:
        raise Unauthorized("No refresh token", code="invalid_token")
    # Checked before the cookie is looked at, so a refused cross-site call does not use it up.
    check_origin(request, settings)
    try:
        issued = await sessions.refresh_session(
            session=session, settings=settings, infra=infra, raw_token=cookie, meta=meta
        )
    except Unauthorized as exc:
        response = JSONResponse(
            exc.body(), status_code=exc.status_code, headers={**(exc.headers or {}), **NO_STORE}
        )
        _clear_refresh_cookie(response, settings)
        return response
    return _token_response(issued, settings, body_refresh=False, cookie=True, with_user=False)


@public_router.post(
    "/logout",
    response_model=DetailResponse,
    responses={401: {"description": "not_authenticated"}, 403: {"description": "origin_not_allowed"}},
)
async def logout(
    request: Request, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    cookie = request.cookies.get(refresh_cookie_name(settings))
    if cookie:
        check_origin(request, settings)
        row = await sessions.family_of_refresh_token(session, cookie)
        if row is not None:
            await sessions.logout(
                session=session,
                settings=settings,
                infra=infra,
                user_id=row.user_id,
                sid=row.family_id,
                meta=meta,
            )
    else:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Not authenticated")
        user, claims = await authenticate_token(request, session, token.strip())
        await sessions.logout(
            session=session, settings=settings, infra=infra, user_id=user.id, sid=claims.sid, meta=meta
        )
    response = JSONResponse({"detail": "Logged out"}, headers=NO_STORE)
    _clear_refresh_cookie(response, settings)
    return response


@public_router.post("/password-reset/request", status_code=202, response_model=DetailResponse)
async def password_reset_request(
    data: ResetRequest, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> DetailResponse:
    await reset.request_password_reset(
        session=session, settings=settings, infra=infra, email=data.email, meta=meta
    )
    return DetailResponse(detail=reset.RESET_ACCEPTED)


@public_router.post(
    "/password-reset/confirm",
    response_model=DetailResponse,
    responses={400: {"description": "invalid_token"}},
)
async def password_reset_confirm(
    data: ResetConfirm, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> DetailResponse:
    await reset.confirm_password_reset(
        session=session,
        settings=settings,
        infra=infra,
        raw_token=data.token,
        new_password=data.new_password,
        meta=meta,
    )
    return DetailResponse(detail="Password has been reset; sign in with the new password.")


# --------------------------------------------------------------------------- the caller


@auth_router.get("/me", response_model=UserPublic)
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@auth_router.patch("/me", response_model=UserPublic)
async def update_me(
    data: MeUpdate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> UserPublic:
    user = await profile.update_me(
        session=session, settings=settings, infra=infra, user=user, data=data, meta=meta
    )
    return UserPublic.model_validate(user)


@auth_router.post("/logout-all", response_model=DetailResponse)
async def logout_all(
    user: CurrentUser,
    claims: CurrentClaims,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> JSONResponse:
    count = await sessions.logout_all(
        session=session, settings=settings, infra=infra, user=user, sid=claims.sid, meta=meta
    )
    response = JSONResponse({"detail": f"Logged out of {count} session(s)"}, headers=NO_STORE)
    _clear_refresh_cookie(response, settings)
    return response


@auth_router.get("/sessions", response_model=list[SessionPublic])
async def list_sessions(user: CurrentUser, claims: CurrentClaims, session: SessionDep) -> list[SessionPublic]:
    rows = await sessions.list_sessions(session=session, user=user)
    return [
        SessionPublic(
            id=row.family_id,
            device=row.device,
            ip=row.ip,
            user_agent=row.user_agent,
            created_at=row.session_started_at,
            last_used_at=row.last_used_at or row.issued_at,
            expires_at=row.expires_at,
            current=row.family_id == claims.sid,
        )
        for row in rows
    ]


@auth_router.delete("/sessions/{session_id}", status_code=204, responses={404: {"description": "not_found"}})
async def revoke_session(
    session_id: str,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> Response:
    if (
        len(session_id) > 64
        or "\x00" in session_id
        or not await sessions.revoke_session(
            session=session, settings=settings, infra=infra, user=user, sid=session_id, meta=meta, actor=user
        )
    ):
        raise NotFound("Session not found", code="not_found")
    return Response(status_code=204)


@auth_router.post(
    "/password/change", response_model=DetailResponse, responses={400: {"description": "invalid_credentials"}}
)
async def change_password(
    data: PasswordChange,
    user: CurrentUser,
    claims: CurrentClaims,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> DetailResponse:
    await profile.change_password(
        session=session,
        settings=settings,
        infra=infra,
        user=user,
        sid=claims.sid,
        current_password=data.current_password,
        new_password=data.new_password,
        meta=meta,
    )
    return DetailResponse(detail="Password changed; your other sessions were signed out.")


@auth_router.get("/events", response_model=Page[AuthEventPublic])
async def list_events(
    _admin: AdminUser,
    session: SessionDep,
    page: Paging,
    user_id: Id | None = None,
    event_type: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,
    success: bool | None = None,
    since: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to")] = None,
) -> Page[AuthEventPublic]:
    items, total = await events.list_events(
        session=session,
        limit=page.limit,
        offset=page.offset,
        user_id=user_id,
        event_type=event_type,
        success=success,
        since=ensure_utc(since) if since else None,
        until=ensure_utc(until) if until else None,
    )
    return page.page([AuthEventPublic.model_validate(e) for e in items], total)


@auth_router.get("/events/counts", response_model=dict[str, int])
async def count_events(
    _admin: AdminUser,
    session: SessionDep,
    since: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to")] = None,
) -> dict[str, int]:
    return await events.count_events(
        session=session,
        since=ensure_utc(since) if since else None,
        until=ensure_utc(until) if until else None,
    )


# --------------------------------------------------------------------------- /users (admin)


@users_router.get("", response_model=Page[UserAdminPublic])
async def list_users(
    _admin: AdminUser,
    session: SessionDep,
    page: Paging,
    role: Role | None = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
) -> Page[UserAdminPublic]:
    items, total = await users.list_users(
        session=session, role=role, is_active=is_active, q=q, limit=page.limit, offset=page.offset
    )
    return page.page([UserAdminPublic.model_validate(u) for u in items], total)


@users_router.post(
    "", status_code=201, response_model=UserAdminPublic, responses={409: {"description": "account_exists"}}
)
async def create_user(
    data: UserCreate, admin: AdminUser, session: SessionDep, settings: SettingsDep, meta: RequestMeta
) -> UserAdminPublic:
    user = await users.create_user(session=session, settings=settings, data=data, actor=admin, meta=meta)
    return UserAdminPublic.model_validate(user)


@users_router.get("/{user_id}", response_model=UserAdminPublic, responses={404: {"description": "not_found"}})
async def read_user(_admin: AdminUser, user: ValidUser) -> UserAdminPublic:
    return UserAdminPublic.model_validate(user)


@users_router.patch(
    "/{user_id}",
    response_model=UserAdminPublic,
    responses={404: {"description": "not_found"}, 409: {"description": "account_exists / last_admin"}},
)
async def update_user(
    data: UserUpdate,
    admin: AdminUser,
    user: ValidUser,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> UserAdminPublic:
    user = await users.update_user(
        session=session, settings=settings, infra=infra, user=user, data=data, actor=admin, meta=meta
    )
    return UserAdminPublic.model_validate(user)
