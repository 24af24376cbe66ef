"""Request-level helpers of the exchange routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.ids import parse_id
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.deps import InfraDep, SettingsDep
from basis.core.jobs import JobQueue
from basis.core.types import NO_CONTROL
from basis.identity.models import User


async def app_settings(settings: SettingsDep) -> ExchangeSettings:
    return settings.app(ExchangeSettings)


async def jobs(infra: InfraDep) -> JobQueue:
    return infra.jobs


async def item_id(item_id: Annotated[str, Path(max_length=50)]) -> int:
    return parse_id(item_id, exc.item_not_found)


async def user_id(user_id: Annotated[str, Path(max_length=50)]) -> int:
    return parse_id(user_id, exc.user_not_found)


def self_or_admin(user: User, target_id: int) -> None:
    if user.id != target_id and user.role != "admin":
        raise exc.not_yours()


ExchangeSettingsDep = Annotated[ExchangeSettings, Depends(app_settings)]
JobsDep = Annotated[JobQueue, Depends(jobs)]
ItemId = Annotated[int, Depends(item_id)]
UserId = Annotated[int, Depends(user_id)]
ExchangeId = Annotated[str, Path(min_length=1, max_length=64, pattern=NO_CONTROL)]
Skip = Annotated[int, Query(ge=0, le=10_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
