"""/api/v1: the mobile app's paths, thin handlers over the HemoDay services."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from basis.apps.hemoday import accounts, datarights, families, report, report_files, sync, uploads
from basis.apps.hemoday import exceptions as exc
from basis.apps.hemoday.dependencies import CallerDep
from basis.apps.hemoday.schemas import (
    FamilyPublic,
    FamilyUpdate,
    InviteCodeIn,
    InviteCodeOut,
    JoinFamilyIn,
    LinkOut,
    LoginIn,
    Me,
    Message,
    PasswordIn,
    RegisterIn,
    ResetRequestIn,
    StatusOk,
    Token,
    UploadOut,
    UserIdIn,
)
from basis.apps.hemoday.settings import HemodaySettings
from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.storage import PayloadTooLarge
from basis.core.types import NO_NUL
from basis.identity import reset
from basis.identity.dependencies import RequestMeta

PREFIX = "/api/v1"
public_router = APIRouter(prefix=PREFIX, tags=["hemoday"])
router = APIRouter(prefix=PREFIX, tags=["hemoday"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MS = re.compile(r"^\d{1,16}$")


def _token(token: accounts.AppToken, status_code: int = 200) -> JSONResponse:
    body = Token(
        access_token=token.access_token,
        user_id=token.user_id,
        family_id=token.family_id,
        invite_code=token.invite_code,
    )
    return JSONResponse(body.model_dump(), status_code=status_code, headers=NO_STORE)


# --------------------------------------------------------------------------- accounts

# The domain's own refusals; the core declares the ones every route can give (core/openapi.py).
_Responses = dict[int | str, dict[str, str]]
_ACCOUNT_EXISTS: _Responses = {409: {"description": "account_exists"}}
_BAD_CREDENTIALS: _Responses = {401: {"description": "invalid_credentials"}}
_JOIN_REFUSALS: _Responses = {
    404: {"description": "invite_code_not_found"},
    409: {"description": "account_exists, already in a family"},
}
_MEMBER_REFUSALS: _Responses = {
    400: {"description": "cannot_remove_owner and the other refused changes of membership"},
    404: {"description": "no such member in the family"},
}


@public_router.post("/auth/register", status_code=201, response_model=Token, responses=_ACCOUNT_EXISTS)
async def register(
    data: RegisterIn, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    token = await accounts.register(
        session=session, settings=settings, infra=infra, email=data.email, password=data.password, meta=meta
    )
    return _token(token, 201)


@public_router.post("/auth/join-family", status_code=201, response_model=Token, responses=_JOIN_REFUSALS)
async def join_family_new_user(
    data: JoinFamilyIn, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    token = await accounts.register(
        session=session,
        settings=settings,
        infra=infra,
        email=data.email,
        password=data.password,
        meta=meta,
        family_code=data.invite_code,
    )
    return _token(token, 201)


@public_router.post("/auth/login", response_model=Token, responses=_BAD_CREDENTIALS)
async def login(
    data: LoginIn, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> JSONResponse:
    token = await accounts.login(
        session=session, settings=settings, infra=infra, email=data.email, password=data.password, meta=meta
    )
    return _token(token)


@public_router.post("/auth/password-reset/request", response_model=Message)
async def password_reset_request(
    data: ResetRequestIn, session: SessionDep, settings: SettingsDep, infra: InfraDep, meta: RequestMeta
) -> Message:
    await reset.request_password_reset(
        session=session, settings=settings, infra=infra, email=data.email, meta=meta
    )
    return Message(message=reset.RESET_ACCEPTED)


@router.get("/auth/me", response_model=Me)
async def me(caller: CallerDep, session: SessionDep) -> Me:
    family = await families.get_family(session, caller.family_id)
    return Me(
        id=caller.public_id,
        email=caller.email,
        family_id=family.id,
        invite_code=family.invite_code,
        created_at=caller.created_at,
    )


# --------------------------------------------------------------------------- family


async def _family(session: SessionDep, family_id: str) -> FamilyPublic:
    return FamilyPublic.model_validate(await families.details(session, family_id))


@router.get("/family", response_model=FamilyPublic)
@router.get("/family/", response_model=FamilyPublic, include_in_schema=False)
async def get_family(caller: CallerDep, session: SessionDep) -> FamilyPublic:
    return await _family(session, caller.family_id)


@router.patch("/family", response_model=FamilyPublic)
@router.patch("/family/", response_model=FamilyPublic, include_in_schema=False)
async def update_family(data: FamilyUpdate, caller: CallerDep, session: SessionDep) -> FamilyPublic:
    await families.update_family(session, caller, data.model_dump(exclude_unset=True))
    return await _family(session, caller.family_id)


def _bearer(request: Request) -> str:
    """The caller's own token: after a move it still works, the family is read per request."""
    return request.headers.get("authorization", "").partition(" ")[2].strip()


async def _moved(request: Request, session: SessionDep, caller: CallerDep) -> JSONResponse:
    token = await accounts.app_token(session=session, user_id=caller.user_id, access_token=_bearer(request))
    return _token(token)


@router.post("/family/join", response_model=Token, responses=_JOIN_REFUSALS)
async def join_family(
    data: InviteCodeIn,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
) -> JSONResponse:
    await accounts.join_by_code(
        session=session, settings=settings, infra=infra, caller=caller, code=data.invite_code
    )
    return await _moved(request, session, caller)


@router.post(
    "/family/leave",
    response_model=Token,
    responses={409: {"description": "family_not_empty: the owner leaves last"}},
)
async def leave_family(request: Request, caller: CallerDep, session: SessionDep) -> JSONResponse:
    await families.leave(session, caller)
    return await _moved(request, session, caller)


@router.post("/family/remove-member", response_model=FamilyPublic, responses=_MEMBER_REFUSALS)
async def remove_member(data: UserIdIn, caller: CallerDep, session: SessionDep) -> FamilyPublic:
    await families.remove_member(session, caller, data.user_id)
    return await _family(session, caller.family_id)


@router.delete("/family/members/{user_id}", response_model=FamilyPublic, responses=_MEMBER_REFUSALS)
async def delete_member(user_id: str, caller: CallerDep, session: SessionDep) -> FamilyPublic:
    await families.remove_member(session, caller, user_id)
    return await _family(session, caller.family_id)


@router.post("/family/invite-code", response_model=InviteCodeOut)
async def regenerate_invite_code(caller: CallerDep, session: SessionDep) -> InviteCodeOut:
    return InviteCodeOut(invite_code=await families.regenerate_code(session, caller))


@router.post("/family/transfer-ownership", response_model=FamilyPublic, responses=_MEMBER_REFUSALS)
async def transfer_ownership(data: UserIdIn, caller: CallerDep, session: SessionDep) -> FamilyPublic:
    await families.transfer_ownership(session, caller, data.user_id)
    return await _family(session, caller.family_id)


# --------------------------------------------------------------------------- sync


def _pulled_at(value: Any, *, where: str) -> int | None:
    """A client's last_pulled_at: None for a first pull; 422 for anything but an integer >= 0."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip() in ("", "null", "0"):
            return None
        if not _MS.match(value):
            raise exc.invalid_field(
                "last_pulled_at", "must be an integer >= 0 (ms since the epoch)", where=where
            )
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= sync.MAX_CLIENT_MS:
        raise exc.invalid_field("last_pulled_at", "must be an integer >= 0 (ms since the epoch)", where=where)
    return value or None


@router.get("/sync")
async def pull(
    caller: CallerDep,
    session: SessionDep,
    last_pulled_at: Annotated[str | None, Query(max_length=64)] = None,
    schema_version: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    since = _pulled_at(last_pulled_at, where="query")
    answer = await sync.pull(session=session, family_id=caller.family_id, last_pulled_at=since)
    return JSONResponse(answer)


@router.post("/sync", response_model=StatusOk)
async def push(
    caller: CallerDep,
    session: SessionDep,
    payload: Annotated[Any, Body()] = None,
    last_pulled_at: Annotated[str | None, Query(max_length=64)] = None,
) -> StatusOk:
    if payload is not None and not isinstance(payload, dict):
        raise exc.invalid_field("body", "must be an object {changes, last_pulled_at}", where="body")
    body = payload or {}
    raw, where = body.get("last_pulled_at"), "body"
    if raw is None:
        raw, where = last_pulled_at, "query"
        if raw is None or raw.strip() in ("", "null"):
            raise exc.invalid_field("last_pulled_at", "Field required", where="body")
    elif isinstance(raw, str):
        raise exc.invalid_field(
            "last_pulled_at", "must be an integer >= 0 (ms since the epoch)", where="body"
        )
    since = _pulled_at(raw, where=where) or 0
    await sync.push(
        session=session, family_id=caller.family_id, changes=body.get("changes", {}), last_pulled_at=since
    )
    return StatusOk()


# --------------------------------------------------------------------------- uploads

MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart envelope around the largest file."""


async def _capped_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) once it passes ``limit``: nothing is stored before."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise PayloadTooLarge(f"A file may be at most {limit - MULTIPART_OVERHEAD} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"A file may be at most {limit - MULTIPART_OVERHEAD} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _form(request: Request, body: bytes) -> FormData:
    try:
        return await Request(request.scope, _replay(body)).form(max_files=1, max_fields=10)
    except (MultiPartException, ValueError, AssertionError):
        return FormData()


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


@router.post(
    "/upload",
    status_code=201,
    response_model=UploadOut,
    openapi_extra=_UPLOAD_BODY,
    responses={415: {"description": "unsupported_media_type: not one of the accepted file types"}},
)
async def upload(
    request: Request, caller: CallerDep, session: SessionDep, settings: SettingsDep, infra: InfraDep
) -> UploadOut:
    app_settings = settings.app(HemodaySettings)
    max_bytes = app_settings.upload_max_bytes
    body = await _capped_body(request, max_bytes + MULTIPART_OVERHEAD)
    form = await _form(request, body)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise exc.invalid_field("file", "Send the file as the multipart field 'file'")
        data = await file.read(max_bytes + 1)
        stored = await uploads.store(
            session=session,
            storage=infra.storage,
            family_id=caller.family_id,
            user_id=caller.user_id,
            filename=file.filename,
            data=data,
            max_bytes=max_bytes,
        )
    finally:
        await form.close()
    download_url = await infra.storage.presign_get(stored.file_url, app_settings.link_seconds)
    return UploadOut(
        file_url=stored.file_url,
        filename=stored.filename,
        size=stored.size,
        content_type=stored.content_type,
        download_url=download_url,
    )


@router.get(
    "/upload/link", response_model=LinkOut, responses={404: {"description": "no such file in the family"}}
)
async def upload_link(
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    file_url: Annotated[str, Query(min_length=1, max_length=1024, pattern=NO_NUL)],
) -> LinkOut:
    seconds = settings.app(HemodaySettings).link_seconds
    url = await uploads.link(
        session=session,
        storage=infra.storage,
        family_id=caller.family_id,
        file_url=file_url,
        expires_in=seconds,
    )
    return LinkOut(download_url=url, expires_in=seconds)


# --------------------------------------------------------------------------- data rights


@router.get("/family/export")
async def export_family(
    caller: CallerDep, session: SessionDep, settings: SettingsDep, infra: InfraDep
) -> JSONResponse:
    seconds = settings.app(HemodaySettings).link_seconds
    data = await datarights.export(
        session=session, storage=infra.storage, family_id=caller.family_id, link_seconds=seconds
    )
    return JSONResponse(jsonable_encoder(data), headers={"Cache-Control": "no-store"})


@router.delete("/family", status_code=204, response_class=Response)
@router.delete("/family/", status_code=204, response_class=Response, include_in_schema=False)
async def delete_family(
    data: PasswordIn,
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    infra: InfraDep,
    meta: RequestMeta,
) -> Response:
    await datarights.delete_family(
        session=session, settings=settings, infra=infra, caller=caller, password=data.password, meta=meta
    )
    return Response(status_code=204)


# --------------------------------------------------------------------------- report

ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": report_files.XLSX, "pdf": "application/pdf"}


def _day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise exc.invalid_field(name, "must be a date YYYY-MM-DD", where="query") from None


@router.get(
    "/report",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}, report_files.XLSX: {}, "application/pdf": {}}
        }
    },
)
async def clinician_report(
    caller: CallerDep,
    session: SessionDep,
    settings: SettingsDep,
    start: Annotated[str, Query(alias="from", pattern=ISO_DAY)],
    end: Annotated[str, Query(alias="to", pattern=ISO_DAY)],
    output: Annotated[Literal["json", "csv", "xlsx", "pdf"], Query(alias="format")] = "json",
) -> Response:
    first, last = _day(start, "from"), _day(end, "to")
    if first > last:
        raise exc.invalid_field("from", "must not be after to", where="query")
    built = await report.build(session=session, family_id=caller.family_id, start=first, end=last)
    if output == "json":
        return JSONResponse(built.as_json())
    if output == "csv":
        content = report_files.as_csv(built)
    elif output == "xlsx":
        content = report_files.as_xlsx(built)
    else:
        font = settings.app(HemodaySettings).report_font
        content = await asyncio.to_thread(report_files.as_pdf, built, font=font)
    name = f"hemoday-report-{first.isoformat()}-{last.isoformat()}.{output}"
    return Response(
        content,
        media_type=MEDIA[output],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )
