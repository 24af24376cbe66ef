from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.example_app.models import ExampleNote


async def create(*, session: AsyncSession, text: str) -> ExampleNote:
    note = ExampleNote(text=text)
    session.add(note)
    await session.commit()
    return note


async def list_notes(*, session: AsyncSession, limit: int, offset: int) -> tuple[list[ExampleNote], int]:
    total = await session.scalar(select(func.count()).select_from(ExampleNote)) or 0
    rows = await session.scalars(select(ExampleNote).order_by(ExampleNote.id).limit(limit).offset(offset))
    return list(rows), total


async def count(*, session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(ExampleNote)) or 0


async def demo(*, session: AsyncSession, progress: Callable[..., None], size: str, **_: object) -> None:
    total = 20 if size == "small" else 200
    progress(0, total=total, description="example notes")
    for index in range(total):
        session.add(ExampleNote(text=f"demo note {index + 1}"))
        progress()
    await session.commit()
