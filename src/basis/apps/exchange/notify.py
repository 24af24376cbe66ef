"""Realtime topics of the exchange and what is published on them (after the commit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from basis.core.errors import ServiceUnavailable
from basis.core.realtime import Hub


def user_topic(user_id: int) -> str:
    """Everything one member's event stream (SSE) receives."""
    return f"exchange:user:{user_id}"


def chat_topic(exchange_id: str) -> str:
    return f"exchange:chat:{exchange_id}"


async def push(hub: Hub, topic: str, message: dict[str, Any]) -> bool:
    """Publishes a stored fact; False when the hub is away. What is pushed here is already
    committed (a message, a notification): while Redis is away the push is lost, not the fact,
    and the call that stored it still succeeds (a 503 would make the client send it twice).
    Readers catch up through history and the notification list."""
    try:
        await hub.publish(topic, message)
    except ServiceUnavailable:
        return False  # the hub has logged it
    return True


async def proposals(hub: Hub | None, notifications: Iterable[dict[str, Any]]) -> None:
    if hub is None:
        return
    for note in notifications:
        if not await push(
            hub,
            user_topic(note["user_id"]),
            {
                "type": "notification_new",
                "notification_id": note["id"],
                "notification_type": note["type"],
                "exchange_id": note["exchange_id"],
            },
        ):
            return
