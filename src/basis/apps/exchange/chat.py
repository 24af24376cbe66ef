"""The chat of an exchange: messages between its participants, read marks, unread counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.models import Exchange, Message, Participant, ReadMark, Report
from basis.core.time import utcnow
from basis.core.types import printable_text
from basis.identity.models import User

MAX_TEXT = 2000
MESSAGE_TYPES = ("text", "image")


def clean(text: Any, message_type: Any = "text") -> tuple[str, str]:
    """The text and type of a message, or ``Unprocessable`` naming what is wrong."""
    if not isinstance(text, str):
        raise exc.invalid("text", "text must be a string", "invalid_text")
    try:
        printable_text(text)
    except ValueError:
        raise exc.invalid("text", "text contains characters that cannot be stored", "invalid_text") from None
    if not text.strip():
        raise exc.invalid("text", "text must not be blank", "empty_text")
    if len(text) > MAX_TEXT:
        raise exc.invalid("text", f"text is at most {MAX_TEXT} characters", "text_too_long")
    kind = message_type.strip().lower() if isinstance(message_type, str) else message_type
    if kind not in MESSAGE_TYPES:
        raise exc.invalid("message_type", "message_type is text or image", "invalid_message_type")
    return text, kind


async def participants(session: AsyncSession, exchange_id: str, user_id: int) -> list[int]:
    """The exchange's participants, checked in the contract's order (404, then 403)."""
    if await session.scalar(select(Exchange.id).where(Exchange.id == exchange_id)) is None:
        raise exc.exchange_not_found()
    members = list(
        await session.scalars(
            select(Participant.user_id)
            .where(Participant.exchange_id == exchange_id)
            .order_by(Participant.position)
        )
    )
    if user_id not in members:
        raise exc.not_participant()
    return members


def public(message: Message, reader_id: int, last_read: int) -> dict[str, Any]:
    return {
        "id": message.id,
        "exchange_id": message.exchange_id,
        "sender_id": message.sender_id,
        "message_text": message.message_text,
        "message_type": message.message_type,
        "is_read": message.sender_id == reader_id or message.id <= last_read,
        "created_at": message.created_at.isoformat(),
    }


async def send(
    session: AsyncSession, *, exchange_id: str, sender_id: int, text: Any, message_type: Any = "text"
) -> tuple[Message, list[int]]:
    """Stores a message (the caller commits); returns it and the exchange's participants."""
    members = await participants(session, exchange_id, sender_id)
    body, kind = clean(text, message_type)
    message = Message(
        exchange_id=exchange_id,
        sender_id=sender_id,
        message_text=body,
        message_type=kind,
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    return message, members


async def _last_read(session: AsyncSession, exchange_id: str, user_id: int) -> int:
    found = await session.scalar(
        select(ReadMark.last_read_id).where(ReadMark.exchange_id == exchange_id, ReadMark.user_id == user_id)
    )
    return found or 0


def visible_to(user_id: int) -> Any:
    """Messages this participant sees: none removed by moderation, none they reported (a report
    hides the message for its reporter at once; the others see it until a moderator removes it)."""
    reported = select(Report.target_message_id).where(
        Report.reporter_id == user_id, Report.target_message_id.is_not(None)
    )
    return and_(Message.removed_at.is_(None), Message.id.not_in(reported))


def _unread(user_id: int) -> Any:
    return and_(
        visible_to(user_id),
        Message.sender_id != user_id,
        Message.id
        > func.coalesce(
            select(ReadMark.last_read_id)
            .where(ReadMark.exchange_id == Message.exchange_id, ReadMark.user_id == user_id)
            .scalar_subquery(),
            0,
        ),
    )


async def history(
    session: AsyncSession, *, exchange_id: str, user_id: int, skip: int, limit: int
) -> dict[str, Any]:
    await participants(session, exchange_id, user_id)
    last_read = await _last_read(session, exchange_id, user_id)
    mine = and_(Message.exchange_id == exchange_id, visible_to(user_id))
    total = await session.scalar(select(func.count()).where(mine)) or 0
    unread = await session.scalar(select(func.count()).where(mine, _unread(user_id))) or 0
    rows = await session.scalars(select(Message).where(mine).order_by(Message.id).offset(skip).limit(limit))
    return {
        "messages": [public(m, user_id, last_read) for m in rows],
        "total": total,
        "unread_count": unread,
    }


async def unread_counts(session: AsyncSession, *, user_id: int) -> dict[str, Any]:
    mine = select(Participant.exchange_id).where(Participant.user_id == user_id)
    rows = await session.execute(
        select(Message.exchange_id, func.count())
        .where(Message.exchange_id.in_(mine), _unread(user_id))
        .group_by(Message.exchange_id)
    )
    counts = {exchange_id: int(n) for exchange_id, n in rows}
    return {"total_unread": sum(counts.values()), "exchanges": counts}


async def mark_read(session: AsyncSession, *, exchange_id: str, user_id: int) -> dict[str, Any]:
    await participants(session, exchange_id, user_id)
    mine = Message.exchange_id == exchange_id
    unread = await session.scalar(select(func.count()).where(mine, _unread(user_id))) or 0
    newest = await session.scalar(select(func.max(Message.id)).where(mine)) or 0
    table = ReadMark.__table__
    values = {"user_id": user_id, "exchange_id": exchange_id, "last_read_id": newest}
    if not await _insert_mark(session, table, values):
        await session.execute(
            table.update()  # type: ignore[attr-defined]
            .where(
                table.c.user_id == user_id, table.c.exchange_id == exchange_id, table.c.last_read_id < newest
            )
            .values(last_read_id=newest)
        )
    return {"marked_read": unread, "exchange_id": exchange_id}


async def _insert_mark(session: AsyncSession, table: Any, values: dict[str, Any]) -> bool:
    existing = await session.scalar(
        select(ReadMark.user_id).where(
            ReadMark.user_id == values["user_id"], ReadMark.exchange_id == values["exchange_id"]
        )
    )
    if existing is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(ReadMark(**values))
    except IntegrityError:
        return False  # marked at the same moment by another request: update it instead
    return True


async def sender_name(session: AsyncSession, user_id: int) -> str:
    user = await session.get(User, user_id)
    return (user.full_name or user.username or f"#{user_id}") if user is not None else f"#{user_id}"
