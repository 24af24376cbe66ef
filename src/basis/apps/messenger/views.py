"""Rows turned into the shapes clients read (attachment links signed on the way out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import messages
from basis.apps.messenger.models import Attachment, Chat, ChatMember, Message
from basis.apps.messenger.schemas import AttachmentOut, ChatOut, MemberOut, MessageOut
from basis.core.storage import Storage


async def attachment_out(storage: Storage, attachment: Attachment, expires_in: int) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        object_key=attachment.object_key,
        file_name=attachment.file_name,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        url=await storage.presign_get(attachment.object_key, expires_in),
        created_at=attachment.created_at,
    )


async def messages_out(
    session: AsyncSession, storage: Storage, rows: Sequence[Message | Any], expires_in: int
) -> list[MessageOut]:
    attached = await messages.attachments_of(session, [m.id for m in rows if m.deleted_at is None])
    out = []
    for m in rows:
        files = [await attachment_out(storage, a, expires_in) for a in attached.get(m.id, [])]
        out.append(
            MessageOut(
                id=m.id,
                chat_id=m.chat_id,
                sender_id=m.sender_id,
                text=m.text,
                attachments=files,
                created_at=m.created_at,
                edited_at=m.edited_at,
                deleted_at=m.deleted_at,
            )
        )
    return out


def new_message_out(m: Message) -> MessageOut:
    """A message just stored without attachments: nothing to look up."""
    return MessageOut(
        id=m.id,
        chat_id=m.chat_id,
        sender_id=m.sender_id,
        text=m.text,
        attachments=[],
        created_at=m.created_at,
        edited_at=m.edited_at,
        deleted_at=m.deleted_at,
    )


async def message_out(session: AsyncSession, storage: Storage, row: Message, expires_in: int) -> MessageOut:
    return (await messages_out(session, storage, [row], expires_in))[0]


async def chats_out(
    session: AsyncSession, storage: Storage, *, user_id: int, chat_ids: Sequence[int], expires_in: int
) -> list[ChatOut]:
    if not chat_ids:
        return []
    chats = {c.id: c for c in (await session.scalars(select(Chat).where(Chat.id.in_(chat_ids)))).all()}
    members: dict[int, list[MemberOut]] = {}
    stmt = (
        select(ChatMember)
        .where(ChatMember.chat_id.in_(chat_ids))
        .order_by(ChatMember.joined_at, ChatMember.user_id)
    )
    for member in (await session.scalars(stmt)).all():
        members.setdefault(member.chat_id, []).append(
            MemberOut(
                user_id=member.user_id,
                role=member.role,
                joined_at=member.joined_at,
                last_read_message_id=member.last_read_message_id,
            )
        )
    last = await messages.last_messages(session, chat_ids)
    last_out = {m.chat_id: m for m in await messages_out(session, storage, list(last.values()), expires_in)}
    unread = await messages.unread_counts(session, user_id=user_id, chat_ids=chat_ids)
    return [
        ChatOut(
            id=chat.id,
            type=chat.type,
            title=chat.title,
            created_by=chat.created_by,
            created_at=chat.created_at,
            members=members.get(chat.id, []),
            last_message=last_out.get(chat.id),
            unread_count=unread.get(chat.id, 0),
        )
        for chat_id in chat_ids
        if (chat := chats.get(chat_id)) is not None
    ]


async def chat_out(
    session: AsyncSession, storage: Storage, *, user_id: int, chat_id: int, expires_in: int
) -> ChatOut:
    return (await chats_out(session, storage, user_id=user_id, chat_ids=[chat_id], expires_in=expires_in))[0]


def dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")  # type: ignore[no-any-return]
