"""Messages: storing, history by id in both directions, edits with history, deletion,
read markers and delivery receipts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import exceptions as exc
from basis.apps.messenger.chats import require_member
from basis.apps.messenger.models import Attachment, ChatMember, Message, MessageEdit, MessageReceipt
from basis.core.db import insert_or_skip
from basis.core.time import utcnow


async def store(
    *,
    session: AsyncSession,
    chat_id: int,
    sender_id: int,
    text: str,
    temp_id: str | None,
    member_checked: bool = False,
) -> Message:
    """A new message of a member (checked here unless the caller did in this transaction).
    Does not commit."""
    if not member_checked:
        await require_member(session, chat_id=chat_id, user_id=sender_id)
    message = Message(
        chat_id=chat_id,
        sender_id=sender_id,
        text=text,
        client_id=temp_id,
        created_at=utcnow(),
        edited_at=None,
        deleted_at=None,
    )
    session.add(message)
    await session.flush()
    return message


async def history(
    *,
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    limit: int,
    before_id: int | None = None,
    after_id: int | None = None,
) -> list[Any]:
    """Newest first below ``before_id``; oldest first above ``after_id`` (catch-up)."""
    # One statement on the hot read path: the membership is a condition of the page itself.
    # Only an empty page asks again, to tell an empty page (or chat) from a 404 / 403.
    is_member = (
        select(ChatMember.user_id)
        .where(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id)
        .exists()
    )
    # Plain rows of the columns (the hot read path): no ORM identity bookkeeping.
    stmt = select(*Message.__table__.c).where(Message.chat_id == chat_id, is_member)
    if after_id is not None:
        stmt = stmt.where(Message.id > after_id).order_by(Message.id.asc())
        if before_id is not None:
            stmt = stmt.where(Message.id < before_id)
    else:
        if before_id is not None:
            stmt = stmt.where(Message.id < before_id)
        stmt = stmt.order_by(Message.id.desc())
    rows = list((await session.execute(stmt.limit(limit))).all())
    if not rows:
        await require_member(session, chat_id=chat_id, user_id=user_id)
    return rows


async def attachments_of(session: AsyncSession, message_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {}
    if not message_ids:
        return found
    stmt = select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
    for attachment in (await session.scalars(stmt)).all():
        found.setdefault(attachment.message_id, []).append(attachment)
    return found


async def _message_in_chat(session: AsyncSession, *, chat_id: int, message_id: int) -> Message:
    message = await session.get(Message, message_id)
    if message is None or message.chat_id != chat_id:
        raise exc.message_not_found()
    return message


async def _own_live_message(session: AsyncSession, *, chat_id: int, message_id: int, user_id: int) -> Message:
    await require_member(session, chat_id=chat_id, user_id=user_id)
    message = await _message_in_chat(session, chat_id=chat_id, message_id=message_id)
    if message.deleted_at is not None:
        raise exc.message_not_found()
    if message.sender_id != user_id:
        raise exc.not_the_sender()
    return message


async def edit(*, session: AsyncSession, chat_id: int, message_id: int, user_id: int, text: str) -> Message:
    """Keeps the replaced text with the time it was replaced. Does not commit."""
    message = await _own_live_message(session, chat_id=chat_id, message_id=message_id, user_id=user_id)
    now = utcnow()
    session.add(MessageEdit(message_id=message.id, text=message.text, edited_at=now))
    message.text = text
    message.edited_at = now
    await session.flush()
    return message


async def delete(*, session: AsyncSession, chat_id: int, message_id: int, user_id: int) -> Message:
    """Leaves a tombstone: no text, no attachments, deleted_at set. Does not commit."""
    message = await _own_live_message(session, chat_id=chat_id, message_id=message_id, user_id=user_id)
    message.text = ""
    message.deleted_at = utcnow()
    attachments = (await session.scalars(select(Attachment).where(Attachment.message_id == message.id))).all()
    for attachment in attachments:
        await session.delete(attachment)
    # Earlier versions go too: a deleted message keeps no text anywhere.
    await session.execute(sa_delete(MessageEdit).where(MessageEdit.message_id == message.id))
    await session.flush()
    return message


async def edits(*, session: AsyncSession, chat_id: int, message_id: int, user_id: int) -> list[MessageEdit]:
    await require_member(session, chat_id=chat_id, user_id=user_id)
    message = await _message_in_chat(session, chat_id=chat_id, message_id=message_id)
    if message.deleted_at is not None:
        raise exc.message_not_found()
    stmt = select(MessageEdit).where(MessageEdit.message_id == message_id).order_by(MessageEdit.id)
    return list((await session.scalars(stmt)).all())


def _unread_filter(user_id: int, marker: int | None) -> list[object]:
    conditions: list[object] = [Message.sender_id != user_id, Message.deleted_at.is_(None)]
    if marker is not None:
        conditions.append(Message.id > marker)
    return conditions


async def unread_count(session: AsyncSession, *, chat_id: int, user_id: int, marker: int | None) -> int:
    stmt = (
        select(func.count())
        .select_from(Message)
        .where(Message.chat_id == chat_id, *_unread_filter(user_id, marker))
    )
    return int(await session.scalar(stmt) or 0)


async def unread_counts(session: AsyncSession, *, user_id: int, chat_ids: Sequence[int]) -> dict[int, int]:
    if not chat_ids:
        return {}
    stmt = (
        select(Message.chat_id, func.count())
        .join(ChatMember, and_(ChatMember.chat_id == Message.chat_id, ChatMember.user_id == user_id))
        .where(
            Message.chat_id.in_(chat_ids),
            Message.sender_id != user_id,
            Message.deleted_at.is_(None),
            Message.id > func.coalesce(ChatMember.last_read_message_id, 0),
        )
        .group_by(Message.chat_id)
    )
    return {chat_id: int(count) for chat_id, count in (await session.execute(stmt)).all()}


async def _receipt(session: AsyncSession, *, message_id: int, user_id: int, **values: object) -> None:
    await insert_or_skip(
        session, MessageReceipt.__table__, {"message_id": message_id, "user_id": user_id, **values}
    )
    column = next(iter(values))
    await session.execute(
        update(MessageReceipt)
        .where(
            MessageReceipt.message_id == message_id,
            MessageReceipt.user_id == user_id,
            getattr(MessageReceipt, column).is_(None),
        )
        .values(**values)
    )


async def mark_read(
    *, session: AsyncSession, chat_id: int, user_id: int, message_id: int
) -> tuple[int | None, int]:
    """Moves the member's read marker forward (never back): the marker and the unread count.
    Does not commit."""
    await require_member(session, chat_id=chat_id, user_id=user_id)
    await _message_in_chat(session, chat_id=chat_id, message_id=message_id)
    marker = ChatMember.last_read_message_id
    await session.execute(
        update(ChatMember)
        .where(
            ChatMember.chat_id == chat_id,
            ChatMember.user_id == user_id,
            (marker.is_(None)) | (marker < message_id),
        )
        .values(last_read_message_id=message_id)
    )
    await _receipt(session, message_id=message_id, user_id=user_id, read_at=utcnow())
    current = await session.scalar(
        select(marker).where(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id)
    )
    return current, await unread_count(session, chat_id=chat_id, user_id=user_id, marker=current)


async def mark_delivered(*, session: AsyncSession, chat_id: int, user_id: int, message_id: int) -> None:
    await require_member(session, chat_id=chat_id, user_id=user_id)
    await _message_in_chat(session, chat_id=chat_id, message_id=message_id)
    await _receipt(session, message_id=message_id, user_id=user_id, delivered_at=utcnow())


async def chat_of_message(session: AsyncSession, message_id: int) -> int:
    chat_id = await session.scalar(select(Message.chat_id).where(Message.id == message_id))
    if chat_id is None:
        raise exc.message_not_found()
    return chat_id


async def last_messages(session: AsyncSession, chat_ids: Sequence[int]) -> dict[int, Message]:
    """Each chat's newest message that is not deleted."""
    if not chat_ids:
        return {}
    newest = (
        select(func.max(Message.id).label("id"))
        .where(Message.chat_id.in_(chat_ids), Message.deleted_at.is_(None))
        .group_by(Message.chat_id)
        .subquery()
    )
    rows = (await session.scalars(select(Message).join(newest, newest.c.id == Message.id))).all()
    return {m.chat_id: m for m in rows}
