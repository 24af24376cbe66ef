"""The admin's register of terminals: create (the API key is shown once), update, rotate the key."""

from __future__ import annotations

from fastapi import APIRouter

from basis.apps.timetracker import queries, service
from basis.apps.timetracker.dependencies import TerminalDep
from basis.apps.timetracker.schemas import (
    TerminalCreate,
    TerminalKeyOut,
    TerminalPublic,
    TerminalUpdate,
    TerminalWithKey,
)
from basis.core.deps import SessionDep
from basis.core.pagination import Page, Paging
from basis.identity.deps import AdminUser

router = APIRouter(prefix="/api", tags=["timetracker"])
_DUPLICATE_NAME: dict[int | str, dict[str, str]] = {409: {"description": "duplicate_name"}}


@router.get("/terminals", response_model=Page[TerminalPublic])
@router.get("/terminals/", response_model=Page[TerminalPublic], include_in_schema=False)
async def list_terminals(_: AdminUser, session: SessionDep, page: Paging) -> Page[TerminalPublic]:
    rows, total = await queries.list_terminals(session=session, limit=page.limit, offset=page.offset)
    return page.page([TerminalPublic.model_validate(t) for t in rows], total)


@router.post("/terminals", status_code=201, response_model=TerminalWithKey, responses=_DUPLICATE_NAME)
@router.post("/terminals/", status_code=201, response_model=TerminalWithKey, include_in_schema=False)
async def create_terminal(data: TerminalCreate, actor: AdminUser, session: SessionDep) -> TerminalWithKey:
    created, key = await service.create_terminal(session=session, data=data, actor=actor)
    return TerminalWithKey(**TerminalPublic.model_validate(created).model_dump(), api_key=key)


@router.get("/terminals/{terminal_id}", response_model=TerminalPublic)
async def get_terminal(item: TerminalDep, _: AdminUser) -> TerminalPublic:
    return TerminalPublic.model_validate(item)


@router.patch("/terminals/{terminal_id}", response_model=TerminalPublic, responses=_DUPLICATE_NAME)
async def update_terminal(
    item: TerminalDep, data: TerminalUpdate, actor: AdminUser, session: SessionDep
) -> TerminalPublic:
    updated = await service.update_terminal(session=session, terminal=item, data=data, actor=actor)
    return TerminalPublic.model_validate(updated)


@router.post("/terminals/{terminal_id}/rotate-key", response_model=TerminalKeyOut)
@router.post("/terminals/{terminal_id}/rotate_key", response_model=TerminalKeyOut, include_in_schema=False)
async def rotate_terminal_key(item: TerminalDep, actor: AdminUser, session: SessionDep) -> TerminalKeyOut:
    key = await service.rotate_terminal_key(session=session, terminal=item, actor=actor)
    return TerminalKeyOut(id=item.id, name=item.name, api_key=key)
