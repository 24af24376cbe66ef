"""Demo data: people, groups and dialogs, and a long history of messages."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from basis.settings import Settings


async def demo(*, session: AsyncSession, settings: Settings, progress: Any, size: str) -> None:
    return None
