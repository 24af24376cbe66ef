"""Request-level helpers of the messenger routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from basis.apps.messenger import exceptions as exc
from basis.apps.messenger.flows import Context
from basis.apps.messenger.presence import Presence
from basis.core.deps import InfraDep, SessionDep, SettingsDep
from basis.core.types import MAX_ID


async def get_presence(request: Request) -> Presence:
    return request.app.state.messenger_presence  # type: ignore[no-any-return]


PresenceDep = Annotated[Presence, Depends(get_presence)]


async def context(
    session: SessionDep, infra: InfraDep, settings: SettingsDep, presence: PresenceDep
) -> Context:
    return Context(session=session, infra=infra, settings=settings, presence=presence)


async def valid_chat_id(chat_id: Annotated[int, Path()]) -> int:
    # Any integer is a well-formed id; one no row can have is simply not found.
    if not 1 <= chat_id <= MAX_ID:
        raise exc.chat_not_found()
    return chat_id


async def valid_message_id(message_id: Annotated[int, Path()]) -> int:
    if not 1 <= message_id <= MAX_ID:
        raise exc.message_not_found()
    return message_id


async def valid_member_id(user_id: Annotated[int, Path()]) -> int:
    if not 1 <= user_id <= MAX_ID:
        raise exc.member_not_found()
    return user_id


ContextDep = Annotated[Context, Depends(context)]
ChatId = Annotated[int, Depends(valid_chat_id)]
MessageId = Annotated[int, Depends(valid_message_id)]
MemberId = Annotated[int, Depends(valid_member_id)]
HistoryLimit = Annotated[int, Query(ge=1, le=100)]
MessageBound = Annotated[int, Query(ge=0, le=MAX_ID)]
