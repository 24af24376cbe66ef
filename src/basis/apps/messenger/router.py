"""/api/chats, /api/search and /api/attachments: thin handlers over the services and flows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import TypeAdapter

from basis.apps.messenger import attachments, chats, flows, messages, search, views
from basis.apps.messenger.dependencies import (
    ChatId,
    ContextDep,
    HistoryLimit,
    MemberId,
    MessageBound,
    MessageId,
)
from basis.apps.messenger.schemas import (
    ChatCreate,
    ChatOut,
    EditOut,
    LinkIn,
    MembersAdd,
    MessageCreate,
    MessageOut,
    MessageText,
    MuteIn,
    MuteOut,
    PresignIn,
    PresignOut,
    ReadIn,
    ReadOut,
)
from basis.core.types import MAX_ID, NO_NUL
from basis.identity.deps import CurrentUser

router = APIRouter(prefix="/api", tags=["messenger"])
NO_CONTENT = Response(status_code=204)
MESSAGES = TypeAdapter(list[MessageOut])


def _messages(items: list[MessageOut]) -> Response:
    # Built and checked once here: FastAPI would validate the list a second time.
    return Response(MESSAGES.dump_json(items), media_type="application/json")


async def _chat(ctx: flows.Context, user_id: int, chat_id: int) -> ChatOut:
    return await views.chat_out(
        ctx.session, ctx.infra.storage, user_id=user_id, chat_id=chat_id, expires_in=ctx.expires
    )


@router.post("/chats", status_code=201, responses={200: {"description": "the existing dialog"}})
async def create_chat(data: ChatCreate, user: CurrentUser, ctx: ContextDep, response: Response) -> ChatOut:
    chat_id, created = await chats.create(
        session=ctx.session, actor_id=user.id, type=data.type, title=data.title, members=data.members
    )
    await ctx.session.commit()
    if not created:
        response.status_code = 200
    return await _chat(ctx, user.id, chat_id)


@router.get("/chats")
async def list_chats(user: CurrentUser, ctx: ContextDep) -> list[ChatOut]:
    ids = await chats.chat_ids_of(ctx.session, user.id)
    return await views.chats_out(
        ctx.session, ctx.infra.storage, user_id=user.id, chat_ids=ids, expires_in=ctx.expires
    )


@router.get("/chats/{chat_id}")
async def read_chat(chat_id: ChatId, user: CurrentUser, ctx: ContextDep) -> ChatOut:
    await chats.require_member(ctx.session, chat_id=chat_id, user_id=user.id)
    return await _chat(ctx, user.id, chat_id)


@router.post("/chats/{chat_id}/members")
async def add_members(chat_id: ChatId, data: MembersAdd, user: CurrentUser, ctx: ContextDep) -> ChatOut:
    await chats.add_members(session=ctx.session, chat_id=chat_id, actor_id=user.id, members=data.members)
    await ctx.session.commit()
    return await _chat(ctx, user.id, chat_id)


@router.delete("/chats/{chat_id}/members/{user_id}", status_code=204)
async def remove_member(chat_id: ChatId, user_id: MemberId, user: CurrentUser, ctx: ContextDep) -> Response:
    await chats.remove_member(session=ctx.session, chat_id=chat_id, actor_id=user.id, user_id=user_id)
    await ctx.session.commit()
    return NO_CONTENT


@router.post("/chats/{chat_id}/leave", status_code=204)
async def leave_chat(chat_id: ChatId, user: CurrentUser, ctx: ContextDep) -> Response:
    await chats.leave(session=ctx.session, chat_id=chat_id, user_id=user.id)
    await ctx.session.commit()
    return NO_CONTENT


@router.post("/chats/{chat_id}/mute")
async def mute_chat(chat_id: ChatId, data: MuteIn, user: CurrentUser, ctx: ContextDep) -> MuteOut:
    await chats.set_muted(session=ctx.session, chat_id=chat_id, user_id=user.id, muted=data.muted)
    await ctx.session.commit()
    return MuteOut(chat_id=chat_id, muted=data.muted)


@router.get("/chats/{chat_id}/messages", response_model=list[MessageOut])
async def list_messages(
    chat_id: ChatId,
    user: CurrentUser,
    ctx: ContextDep,
    limit: HistoryLimit = 50,
    before_id: MessageBound | None = None,
    after_id: MessageBound | None = None,
) -> Response:
    """Newest first below ``before_id``; with ``after_id``, oldest first (catch-up)."""
    rows = await messages.history(
        session=ctx.session,
        chat_id=chat_id,
        user_id=user.id,
        limit=limit,
        before_id=before_id,
        after_id=after_id,
    )
    return await views.messages_out(ctx.session, ctx.infra.storage, rows, ctx.expires)


@router.post(
    "/chats/{chat_id}/messages",
    status_code=201,
    responses={
        200: {"description": "a repeated temp_id: the first message"},
        429: {"description": "rate_limited"},
        503: {"description": "unavailable: the database or Redis is away; nothing was stored, send again"},
    },
)
async def send_message(
    chat_id: ChatId, data: MessageCreate, user: CurrentUser, ctx: ContextDep, response: Response
) -> MessageOut:
    body, replayed = await flows.send_message(ctx, sender_id=user.id, chat_id=chat_id, data=data)
    if replayed:
        response.status_code = 200
    return MessageOut.model_validate(body)


@router.patch("/chats/{chat_id}/messages/{message_id}")
async def edit_message(
    chat_id: ChatId, message_id: MessageId, data: MessageText, user: CurrentUser, ctx: ContextDep
) -> MessageOut:
    body = await flows.edit_message(
        ctx, user_id=user.id, chat_id=chat_id, message_id=message_id, text=data.text
    )
    return MessageOut.model_validate(body)


@router.delete("/chats/{chat_id}/messages/{message_id}", status_code=204)
async def delete_message(
    chat_id: ChatId, message_id: MessageId, user: CurrentUser, ctx: ContextDep
) -> Response:
    await flows.delete_message(ctx, user_id=user.id, chat_id=chat_id, message_id=message_id)
    return NO_CONTENT


@router.get("/chats/{chat_id}/messages/{message_id}/history")
async def message_history(
    chat_id: ChatId, message_id: MessageId, user: CurrentUser, ctx: ContextDep
) -> list[EditOut]:
    rows = await messages.edits(session=ctx.session, chat_id=chat_id, message_id=message_id, user_id=user.id)
    return [EditOut(text=r.text, edited_at=r.edited_at) for r in rows]


@router.post("/chats/{chat_id}/read")
async def read_chat_up_to(chat_id: ChatId, data: ReadIn, user: CurrentUser, ctx: ContextDep) -> ReadOut:
    return await flows.read(ctx, user_id=user.id, chat_id=chat_id, message_id=data.message_id)


@router.get("/search", responses={404: {"description": "not_found: the chat_id names no chat of yours"}})
async def search_messages(
    user: CurrentUser,
    ctx: ContextDep,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)],
    chat_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: HistoryLimit = 50,
) -> list[MessageOut]:
    if not q.strip():
        from basis.apps.messenger.exceptions import invalid

        raise invalid("q", "give at least one word")
    if chat_id is not None:
        await chats.require_member(ctx.session, chat_id=chat_id, user_id=user.id)
    rows = await search.search(session=ctx.session, user_id=user.id, query=q, chat_id=chat_id, limit=limit)
    return await views.messages_out(ctx.session, ctx.infra.storage, rows, ctx.expires)


@router.post("/attachments/presign", status_code=201)
async def presign(data: PresignIn, user: CurrentUser, ctx: ContextDep) -> PresignOut:
    expires = ctx.app.upload_expires_seconds
    url, key = await attachments.presign(
        session=ctx.session,
        storage=ctx.infra.storage,
        user_id=user.id,
        file_name=data.name,
        content_type=data.content_type,
        size_bytes=data.size_bytes,
        max_bytes=ctx.app.max_attachment_bytes,
        expires_in=expires,
    )
    await ctx.session.commit()
    return PresignOut(url=url, object_key=key, expires_in=expires)


@router.post(
    "/attachments/link",
    status_code=204,
    responses={404: {"description": "not_found: no message of yours with this id"}},
)
async def link_attachment(data: LinkIn, user: CurrentUser, ctx: ContextDep) -> Response:
    await flows.link(ctx, user_id=user.id, data=data)
    return NO_CONTENT
