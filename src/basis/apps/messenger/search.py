"""Search in the caller's chats: whole words, case-insensitive, newest first.

One interface, one implementation per backend: PostgreSQL full text (the ``simple``
configuration: no stemming, so words match whole); SQLite its FTS5 index
(``messenger_messages_fts``, kept by triggers); MariaDB a LIKE prefilter on each word,
confirmed word by word here (its FULLTEXT index drops short words and stopwords, so it could
only ever prefilter)."""

from __future__ import annotations

import re

from sqlalchemy import Integer, Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger.models import ChatMember, Message

_WORD = re.compile(r"[^\W_]+")
"""Letters and digits: an underscore separates words, as in PostgreSQL's parser."""
BATCH = 200


def words_of(query: str) -> list[str]:
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))[:16]


def _scope(user_id: int, chat_id: int | None) -> Select[tuple[Message]]:
    mine = select(ChatMember.chat_id).where(ChatMember.user_id == user_id)
    stmt = select(Message).where(Message.chat_id.in_(mine), Message.deleted_at.is_(None))
    if chat_id is not None:
        stmt = stmt.where(Message.chat_id == chat_id)
    return stmt


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(text: str, words: list[str]) -> bool:
    lowered = text.lower()
    return all(re.search(rf"(?<![^\W_]){re.escape(w)}(?![^\W_])", lowered) for w in words)


async def search(
    *, session: AsyncSession, user_id: int, query: str, chat_id: int | None, limit: int
) -> list[Message]:
    words = words_of(query)
    if not words:
        return []
    stmt = _scope(user_id, chat_id)
    if session.get_bind().dialect.name == "postgresql":
        vector = func.to_tsvector("simple", Message.text)
        tsquery = func.plainto_tsquery("simple", " ".join(words))
        stmt = stmt.where(vector.op("@@")(tsquery)).order_by(Message.id.desc()).limit(limit)
        return list((await session.scalars(stmt)).all())
    if session.get_bind().dialect.name == "sqlite":
        # Each word quoted: a phrase of one token, never FTS5 syntax; the words are ANDed.
        expression = " ".join(f'"{w}"' for w in words)
        hits = (
            text("SELECT rowid FROM messenger_messages_fts WHERE messenger_messages_fts MATCH :q")
            .bindparams(q=expression)
            .columns(rowid=Integer)
            .subquery()
        )
        stmt = stmt.where(Message.id.in_(select(hits.c.rowid)))
        return list((await session.scalars(stmt.order_by(Message.id.desc()).limit(limit))).all())
    for word in words:
        stmt = stmt.where(func.lower(Message.text).like(f"%{_escape_like(word)}%", escape="\\"))
    found: list[Message] = []
    before: int | None = None
    while len(found) < limit:
        page = stmt.order_by(Message.id.desc()).limit(BATCH)
        if before is not None:
            page = page.where(Message.id < before)
        rows = list((await session.scalars(page)).all())
        found += [m for m in rows if matches(m.text, words)]
        if len(rows) < BATCH:
            break
        before = rows[-1].id
    return found[:limit]
