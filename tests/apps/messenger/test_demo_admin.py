"""Demo data and the admin panel's views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger.demo import demo
from basis.apps.messenger.models import Chat, ChatMember, Message
from basis.settings import Settings
from tests.apps.messenger.conftest import Api
from tests.fixtures.auth import DEFAULT_PASSWORD, MakeUser


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


async def test_admins_see_chats_and_counts_but_no_message_text(api: Api, make_user: MakeUser) -> None:
    await make_user(role="admin", email="panel-boss@example.com")
    ann, bob = await api.person(), await api.person()
    group = await api.group(ann, bob, title="Hiking club")
    await api.send(ann, group["id"], "the very private plan")
    login = await api.client.post(
        "/admin/login",
        data={"username": "panel-boss@example.com", "password": DEFAULT_PASSWORD},
        headers={"Origin": "http://testserver"},
    )
    assert login.status_code == 302
    chats = await api.client.get("/admin/chat/list")
    assert chats.status_code == 200 and "Hiking club" in chats.text
    assert "the very private plan" not in chats.text
    details = await api.client.get(f"/admin/chat/details/{group['id']}")
    assert details.status_code == 200 and "the very private plan" not in details.text
    members = await api.client.get("/admin/chat-member/list")
    assert members.status_code == 200
