"""Server events and their fan-out: every event goes to the topic of each user it is for, so
whoever is a member when it is published gets it on every socket, on every process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from basis.core.realtime import Hub

TOPIC_PREFIX = "messenger:user:"


def user_topic(user_id: int) -> str:
    return f"{TOPIC_PREFIX}{user_id}"


def chat_event(kind: str, chat_id: int, **fields: Any) -> dict[str, Any]:
    """An event about a chat names it both ways: the original client reads conversation_id."""
    return {"type": kind, "conversation_id": chat_id, "chat_id": chat_id, **fields}


async def to_users(hub: Hub, user_ids: Iterable[int], event: dict[str, Any]) -> None:
    topics = [t for uid in dict.fromkeys(user_ids) if hub.heard(t := user_topic(uid))]
    if topics:
        await hub.publish_many(topics, event)
