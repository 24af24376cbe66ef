"""Demo data: a community of people in groups and dialogs with a long history of messages.

``full``: 200 people, 50 groups, 100,000 messages (for benchmarks); ``small``: 40, 10, 5,000.
The people log in with ``demo-<n>@example.com`` and a password printed nowhere: reset it
with ``basis users`` to try one."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger.chats import dialog_key
from basis.apps.messenger.models import Chat, ChatMember, Message
from basis.core.time import utcnow
from basis.identity.models import User
from basis.settings import Settings

SIZES = {"small": (40, 10, 5_000), "full": (200, 50, 100_000)}
"""people, groups, messages"""
CHUNK = 5000
EMAIL = "demo-{n}@example.com"
WORDS = (
    "hello morning coffee meeting deploy release bug fix review lunch tomorrow today weekend "
    "train trip photo plan idea budget report draft call later thanks great sure maybe done"
).split()
FIRST = ("Anna", "Boris", "Chen", "Dana", "Emil", "Fatima", "Gleb", "Hana", "Ivan", "Julia", "Karim", "Lena")
LAST = ("Novak", "Ivanova", "Kowalski", "Smith", "Garcia", "Kim", "Sato", "Muller", "Rossi", "Petrova")


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def _people(session: AsyncSession, settings: Settings, count: int, rng: random.Random) -> list[int]:
    from basis.identity.passwords import hash_password

    password_hash = await hash_password(secrets.token_urlsafe(24), profile=settings.password_hash_profile)
    now = utcnow()
    rows = [
        {
            "email": EMAIL.format(n=n),
            "username": f"demo{n}",
            "username_key": f"demo{n}",
            "full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "role": "user",
            "is_active": True,
            "password_hash": password_hash,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(1, count + 1)
    ]
    conn = await session.connection()
    await conn.execute(insert(User.__table__), rows)
    stmt = select(User.id).where(User.email.like("demo-%@example.com")).order_by(User.id)
    return list((await session.scalars(stmt)).all())


async def _chats(
    session: AsyncSession, people: list[int], groups: int, rng: random.Random, start: dt.datetime
) -> dict[int, list[int]]:
    """chat id -> member ids: the groups, and a dialog for each person with a few others."""
    conn = await session.connection()
    members: dict[int, list[int]] = {}
    for index in range(groups):
        owner = rng.choice(people)
        chosen = [
            owner,
            *rng.sample([p for p in people if p != owner], k=min(len(people) - 1, rng.randint(3, 25))),
        ]
        chat_id = (
            await conn.execute(
                insert(Chat.__table__).values(
                    type="group", title=f"Demo group {index + 1}", created_by=owner, created_at=start
                )
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        members[chat_id] = chosen
    pairs = {
        tuple(sorted((a, b))) for a in people for b in rng.sample(people, k=min(3, len(people))) if a != b
    }
    for a, b in sorted(pairs):
        chat_id = (
            await conn.execute(
                insert(Chat.__table__).values(
                    type="dialog", title=None, created_by=a, created_at=start, dialog_key=dialog_key(a, b)
                )
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        members[chat_id] = [a, b]
    rows = [
        {
            "chat_id": chat_id,
            "user_id": uid,
            "role": "owner" if index == 0 and len(ids) > 2 else "member",
            "joined_at": start,
            "muted": False,
        }
        for chat_id, ids in members.items()
        for index, uid in enumerate(ids)
    ]
    for chunk in _chunks(rows):
        await conn.execute(insert(ChatMember.__table__), chunk)
    return members


async def demo(
    *, session: AsyncSession, settings: Settings, progress: Callable[..., None], size: str, **_: Any
) -> None:
    people_count, groups, message_count = SIZES.get(size, SIZES["small"])
    if await session.scalar(select(User.id).where(User.email == EMAIL.format(n=1))) is not None:
        progress(0, total=1, description="messenger: demo data already there")
        progress(1)
        return
    rng = random.Random(20261206)  # noqa: S311 - reproducible demo data, not secrets
    progress(0, total=message_count + 2, description="messenger: people and chats")
    start = utcnow() - dt.timedelta(days=90)
    people = await _people(session, settings, people_count, rng)
    members = await _chats(session, people, groups, rng, start)
    progress(2, description="messenger: messages")
    chat_ids = list(members)
    step = dt.timedelta(days=90) / message_count
    conn = await session.connection()
    rows = []
    for index in range(message_count):
        chat_id = rng.choice(chat_ids)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14))).capitalize()
        rows.append(
            {
                "chat_id": chat_id,
                "sender_id": rng.choice(members[chat_id]),
                "text": text,
                "created_at": start + step * index,
            }
        )
        if len(rows) == CHUNK:
            await conn.execute(insert(Message.__table__), rows)
            progress(len(rows))
            rows = []
    if rows:
        await conn.execute(insert(Message.__table__), rows)
        progress(len(rows))
    await session.commit()
