"""The original client's auth and people calls, as aliases of the core identity: the same
services, rate limits and token rotation; refresh tokens always in the body (a native-style
client)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from basis.apps.messenger import people
from basis.apps.messenger.dependencies import PresenceDep
from basis.apps.messenger.exceptions import user_not_found
from basis.apps.messenger.schemas import Health, LoginAlias, RefreshAlias, TokenPair, UserOut
from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.types import MAX_ID, NO_NUL
from basis.identity import profile, sessions
from basis.identity.dependencies import RequestMeta, check_origin
from basis.identity.deps import CurrentUser
from basis.identity.login import authenticate_login
from basis.identity.models import User
from basis.identity.schemas import RegisterRequest

public_router = APIRouter(prefix="/api", tags=["messenger auth"])
users_router = APIRouter(prefix="/api/users", tags=["messenger people"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(issued: sessions.IssuedSession, user: UserOut | None, status: int = 200) -> JSONResponse:
    pair = TokenPair(access_token=issued.access_token, refresh_token=issued.refresh_token, user=user)
    body = pair.model_dump(mode="json", exclude={"user"} if user is None else None)
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@public_router.get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")


@public_router.post(
    "/auth/register",
    status_code=201,
    response_model=TokenPair,
    responses={403: {"description": "registration_closed"}, 409: {"description": "account_exists"}},
)
async def register(
    request: Request,
    data: RegisterRequest,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
    presence: PresenceDep,
) -> JSONResponse:
    check_origin(request, settings)
    issued = await profile.register(session=session, settings=settings, infra=infra, data=data, meta=meta)
    return _tokens(issued, await people.user_out(presence, issued.user), status=201)


@public_router.post(
    "/auth/login", response_model=TokenPair, responses={401: {"description": "invalid_credentials"}}
)
async def login(
    request: Request,
    data: LoginAlias,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
    presence: PresenceDep,
) -> JSONResponse:
    check_origin(request, settings)
    issued = await authenticate_login(
        session=session,
        settings=settings,
        infra=infra,
        identifier=data.email,
        password=data.password,
        meta=meta,
    )
    return _tokens(issued, await people.user_out(presence, issued.user))


@public_router.post(
    "/auth/refresh", response_model=TokenPair, responses={401: {"description": "invalid_token"}}
)
async def refresh(
    data: RefreshAlias, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    issued = await sessions.refresh_session(
        session=session, settings=settings, infra=infra, raw_token=data.refresh_token, meta=meta
    )
    return _tokens(issued, None)


@users_router.get("/me")
async def me(user: CurrentUser, presence: PresenceDep) -> UserOut:
    return await people.user_out(presence, user)


@users_router.get("")
async def find_people(
    session: SessionDep, presence: PresenceDep, q: Annotated[str, Query(max_length=200, pattern=NO_NUL)] = ""
) -> list[UserOut]:
    return await people.users_out(presence, await people.find(session, query=q))


@users_router.get("/{user_id}")
async def read_person(user_id: int, session: SessionDep, presence: PresenceDep) -> UserOut:
    user = await session.get(User, user_id) if 1 <= user_id <= MAX_ID else None
    if user is None:
        raise user_not_found()
    return await people.user_out(presence, user)


@public_router.get("/mail/mute", responses={403: {"description": "invalid_signature"}})
async def mute_by_mail(
    token: Annotated[str, Query(min_length=1, max_length=500)], session: SessionDep, settings: SettingsDep
) -> dict[str, int | bool]:
    """The one-click link of every offline mail: mutes that chat's mail for that member."""
    from basis.apps.messenger import mail
    from basis.apps.messenger.models import ChatMember
    from basis.core.errors import Forbidden

    claims = mail.read_mute_token(settings, token)
    if claims is None:
        raise Forbidden("Invalid link", code="invalid_signature")
    chat_id, user_id = claims
    member = await session.get(ChatMember, (chat_id, user_id))
    if member is None:
        raise user_not_found()
    member.muted = True
    await session.commit()
    return {"chat_id": chat_id, "muted": True}
