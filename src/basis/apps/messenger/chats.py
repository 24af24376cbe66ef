"""Chats and their members: dialogs unique per pair, groups with an owner."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import exceptions as exc
from basis.apps.messenger.models import Chat, ChatMember, Message
from basis.core.db import insert_or_skip
from basis.core.time import utcnow
from basis.identity.models import User


def dialog_key(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


async def require_member(session: AsyncSession, *, chat_id: int, user_id: int) -> Row[Any]:
    """The chat's id and type when the user is a member: 404 when there is no such chat, 403
    when not a member. One indexed lookup, on every chat call."""
    row = (
        await session.execute(
            select(Chat.id, Chat.type, ChatMember.user_id)
            .outerjoin(ChatMember, and_(ChatMember.chat_id == Chat.id, ChatMember.user_id == user_id))
            .where(Chat.id == chat_id)
        )
    ).one_or_none()
    if row is None:
        raise exc.chat_not_found()
    if row.user_id is None:
        raise exc.not_a_member()
    return row


async def roster(session: AsyncSession, *, chat_id: int, user_id: int) -> list[tuple[int, bool]]:
    """Every member of the chat with their mute flag, in one statement (the send path); 404 /
    403 as ``require_member`` when ``user_id`` is not among them."""
    stmt = select(ChatMember.user_id, ChatMember.muted).where(ChatMember.chat_id == chat_id)
    members = [(row.user_id, bool(row.muted)) for row in (await session.execute(stmt)).all()]
    if not any(uid == user_id for uid, _ in members):
        await require_member(session, chat_id=chat_id, user_id=user_id)
    return members


async def member_ids(session: AsyncSession, chat_id: int) -> list[int]:
    stmt = select(ChatMember.user_id).where(ChatMember.chat_id == chat_id).order_by(ChatMember.user_id)
    return list((await session.scalars(stmt)).all())


async def contacts_of(session: AsyncSession, user_id: int) -> list[int]:
    """Everyone who shares a chat with the user (the user excluded)."""
    mine = select(ChatMember.chat_id).where(ChatMember.user_id == user_id)
    stmt = (
        select(ChatMember.user_id)
        .where(ChatMember.chat_id.in_(mine), ChatMember.user_id != user_id)
        .distinct()
    )
    return list((await session.scalars(stmt)).all())


async def _check_users(session: AsyncSession, ids: Sequence[int]) -> None:
    if not ids:
        return
    found = set((await session.scalars(select(User.id).where(User.id.in_(ids)))).all())
    missing = sorted(set(ids) - found)
    if missing:
        raise exc.unknown_users(missing)


async def create(
    *, session: AsyncSession, actor_id: int, type: str, title: str | None, members: Sequence[int]
) -> tuple[int, bool]:
    """The new chat's id and True, or an existing dialog's id and False. Does not commit."""
    others = sorted(set(members) - {actor_id})
    await _check_users(session, others)
    now = utcnow()
    if type == "dialog":
        if len(others) != 1:
            raise exc.invalid("members", "a dialog names exactly one other user")
        key = dialog_key(actor_id, others[0])
        values = {
            "type": "dialog",
            "title": title,
            "created_by": actor_id,
            "created_at": now,
            "dialog_key": key,
        }
        # The unique dialog_key makes a concurrent creation for the pair wait, then skip.
        created = await insert_or_skip(session, Chat.__table__, values)
        chat_id = await session.scalar(select(Chat.id).where(Chat.dialog_key == key))
        assert chat_id is not None
        if not created:
            return chat_id, False
        roles = {actor_id: "member", others[0]: "member"}
    else:
        chat = Chat(type="group", title=title, created_by=actor_id, created_at=now)
        session.add(chat)
        await session.flush()
        chat_id = chat.id
        roles = {actor_id: "owner", **{uid: "member" for uid in others}}
    session.add_all(
        ChatMember(chat_id=chat_id, user_id=uid, role=role, joined_at=now, muted=False)
        for uid, role in roles.items()
    )
    await session.flush()
    return chat_id, True


async def _group_of_owner(session: AsyncSession, *, chat_id: int, actor_id: int) -> Row[Any]:
    chat = await require_member(session, chat_id=chat_id, user_id=actor_id)
    if chat.type == "dialog":
        raise exc.dialog_members_fixed()
    role = await session.scalar(
        select(ChatMember.role).where(ChatMember.chat_id == chat_id, ChatMember.user_id == actor_id)
    )
    if role != "owner":
        raise exc.not_the_owner()
    return chat


async def add_members(
    *, session: AsyncSession, chat_id: int, actor_id: int, members: Sequence[int]
) -> list[int]:
    """The users who joined now (those already in are left as they are). Does not commit."""
    await _group_of_owner(session, chat_id=chat_id, actor_id=actor_id)
    wanted = sorted(set(members))
    await _check_users(session, wanted)
    present = set(await member_ids(session, chat_id))
    now = utcnow()
    added = [uid for uid in wanted if uid not in present]
    joined = []
    for uid in added:
        try:
            # A concurrent add of the same user wins: this one skips it.
            async with session.begin_nested():
                await session.execute(
                    insert(ChatMember).values(
                        chat_id=chat_id, user_id=uid, role="member", joined_at=now, muted=False
                    )
                )
            joined.append(uid)
        except IntegrityError:
            continue
    return joined


async def remove_member(*, session: AsyncSession, chat_id: int, actor_id: int, user_id: int) -> None:
    await _group_of_owner(session, chat_id=chat_id, actor_id=actor_id)
    if user_id == actor_id:
        await leave(session=session, chat_id=chat_id, user_id=actor_id)
        return
    result = await session.execute(
        delete(ChatMember).where(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise exc.member_not_found()


async def leave(*, session: AsyncSession, chat_id: int, user_id: int) -> None:
    """The owner's leaving hands the group to the member who joined earliest."""
    chat = await require_member(session, chat_id=chat_id, user_id=user_id)
    if chat.type == "dialog":
        raise exc.dialog_members_fixed()
    role = await session.scalar(
        select(ChatMember.role).where(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id)
    )
    await session.execute(
        delete(ChatMember).where(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id)
    )
    if role != "owner":
        return
    heir = (
        await session.execute(
            select(ChatMember.user_id)
            .where(ChatMember.chat_id == chat_id)
            .order_by(ChatMember.joined_at, ChatMember.user_id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if heir is not None:
        await session.execute(
            update(ChatMember)
            .where(ChatMember.chat_id == chat_id, ChatMember.user_id == heir)
            .values(role="owner")
        )


async def set_muted(*, session: AsyncSession, chat_id: int, user_id: int, muted: bool) -> None:
    await require_member(session, chat_id=chat_id, user_id=user_id)
    await session.execute(
        update(ChatMember)
        .where(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id)
        .values(muted=muted)
    )


async def chat_ids_of(session: AsyncSession, user_id: int) -> list[int]:
    """The user's chats, by last activity (newest message, else creation), newest first."""
    newest = (
        select(func.max(Message.created_at))
        .where(Message.chat_id == Chat.id)
        .correlate(Chat)
        .scalar_subquery()
    )
    activity = func.coalesce(newest, Chat.created_at)
    stmt = (
        select(Chat.id)
        .join(ChatMember, and_(ChatMember.chat_id == Chat.id, ChatMember.user_id == user_id))
        .order_by(activity.desc(), Chat.id.desc())
    )
    return list((await session.scalars(stmt)).all())
