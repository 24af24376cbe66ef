"""Admin panel views: chats, members and message counts. No message text: admins do not read
private chats (rule 12), here or anywhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import column_property

from basis.apps.messenger.models import Chat, ChatMember, Message
from basis.core.admin import ReadOnlyView

CATEGORY = "Messenger"

Chat.message_count = column_property(  # type: ignore[attr-defined]
    select(func.count(Message.id))
    .where(Message.chat_id == Chat.id)
    .correlate_except(Message)
    .scalar_subquery(),
    deferred=True,
)
Chat.member_count = column_property(  # type: ignore[attr-defined]
    select(func.count())
    .select_from(ChatMember)
    .where(ChatMember.chat_id == Chat.id)
    .correlate_except(ChatMember)
    .scalar_subquery(),
    deferred=True,
)


class ChatAdmin(ReadOnlyView, model=Chat):
    category = CATEGORY
    icon = "fa-solid fa-comments"
    column_list = [
        Chat.id,
        Chat.type,
        Chat.title,
        Chat.created_by,
        Chat.created_at,
        "member_count",
        "message_count",
    ]
    column_details_list = column_list
    column_labels: dict[Any, str] = {"member_count": "Members", "message_count": "Messages"}
    column_searchable_list = [Chat.title]
    column_sortable_list = [Chat.id, Chat.created_at]
    column_default_sort = [(Chat.id, True)]


class ChatMemberAdmin(ReadOnlyView, model=ChatMember):
    category = CATEGORY
    icon = "fa-solid fa-user-group"
    name_plural = "Chat members"
    column_list = [
        ChatMember.chat_id,
        ChatMember.user_id,
        ChatMember.role,
        ChatMember.joined_at,
        ChatMember.last_read_message_id,
        ChatMember.muted,
    ]
    column_details_list = column_list
    column_sortable_list = [ChatMember.chat_id, ChatMember.joined_at]


VIEWS = [ChatAdmin, ChatMemberAdmin]
