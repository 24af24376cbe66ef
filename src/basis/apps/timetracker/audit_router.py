"""The audit log of staff changes (who changed which employee, event, schedule or terminal)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from basis.apps.timetracker import service
from basis.apps.timetracker.params import IdParam
from basis.apps.timetracker.schemas import AuditPublic
from basis.core.deps import SessionDep
from basis.core.pagination import Page, Paging
from basis.core.types import NO_CONTROL
from basis.identity.deps import AdminUser

router = APIRouter(prefix="/api", tags=["timetracker"])


@router.get("/audit", response_model=Page[AuditPublic])
async def list_audit(
    _: AdminUser,
    session: SessionDep,
    page: Paging,
    entity: str | None = Query(None, max_length=40, pattern=NO_CONTROL),
    entity_id: IdParam = None,
    action: str | None = Query(None, max_length=40, pattern=NO_CONTROL),
    actor_id: IdParam = None,
) -> Page[AuditPublic]:
    rows, total = await service.list_audit(
        session=session,
        entity=entity,
        entity_id=entity_id,
        action=action,
        actor_id=actor_id,
        limit=page.limit,
        offset=page.offset,
    )
    return page.page([AuditPublic.model_validate(r) for r in rows], total)
