"""Realtime topics of the exchange and what is published on them (after the commit)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from basis.core.realtime import Hub


def user_topic(user_id: int) -> str:
    """Everything one member's event stream (SSE) receives."""
    return f"exchange:user:{user_id}"


def chat_topic(exchange_id: str) -> str:
    return f"exchange:chat:{exchange_id}"


async def proposals(hub: Hub | None, notifications: Iterable[dict[str, Any]]) -> None:
    if hub is None:
        return
    for note in notifications:
        await hub.publish(
            user_topic(note["user_id"]),
            {
                "type": "notification_new",
                "notification_id": note["id"],
                "notification_type": note["type"],
                "exchange_id": note["exchange_id"],
            },
        )
