"""Demo data and the admin panel's views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger.demo import demo
from basis.apps.messenger.models import Chat, ChatMember, Message
from basis.settings import Settings


async def test_small_demo_data_is_consistent_and_runs_once(session: AsyncSession, settings: Settings) -> None:
    steps: list[Any] = []
    await demo(session=session, settings=settings, progress=lambda *a, **k: steps.append(a), size="small")
    assert await session.scalar(select(func.count()).select_from(Message)) == 5000
    groups = await session.scalar(select(func.count()).select_from(Chat).where(Chat.type == "group"))
    assert groups == 10
    # Every message's sender is a member of its chat.
    strangers = await session.scalar(
        select(func.count())
        .select_from(Message)
        .outerjoin(
            ChatMember, (ChatMember.chat_id == Message.chat_id) & (ChatMember.user_id == Message.sender_id)
        )
        .where(ChatMember.user_id.is_(None))
    )
    assert strangers == 0
    await demo(session=session, settings=settings, progress=lambda *a, **k: None, size="small")
    assert await session.scalar(select(func.count()).select_from(Message)) == 5000
