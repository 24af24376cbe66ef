"""Search in the caller's chats: whole words, case-insensitive, newest first.

One interface, one index per database, each a table beside ``messenger_messages`` kept by
triggers in the message's own transaction (migrations messenger_0002 and messenger_0003):

- PostgreSQL: ``messenger_messages_tsv`` (a ``tsvector`` of the ``simple`` configuration: no
  stemming, no stopwords, so words match whole) with a GIN index, queried with ``@@``.
- SQLite: the FTS5 table ``messenger_messages_fts`` (unicode61: case folded, words whole).
- MariaDB: ``messenger_messages_ft`` with an InnoDB FULLTEXT index, queried in boolean mode
  with every word required. InnoDB leaves out words shorter than ``innodb_ft_min_token_size``
  (3 by default), longer than ``innodb_ft_max_token_size`` and its stopwords (read from the
  server once): those words are matched with LIKE instead, and every candidate is confirmed
  word by word here, so the answer is the same as on the other databases; a query made only of
  such words scans the caller's chats (still confirmed, in batches).

Membership is checked the same way everywhere: messages of the chats the caller is in now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Integer, Select, column, func, literal_column, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger.models import ChatMember, Message

_WORD = re.compile(r"[^\W_]+")
"""Letters and digits: an underscore separates words, as in PostgreSQL's parser."""
BATCH = 200
TSV = table("messenger_messages_tsv", column("id", Integer), column("words"))
FT = table("messenger_messages_ft", column("id", Integer), column("text"))


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


@dataclass(frozen=True, slots=True)
class FulltextRules:
    """What InnoDB's FULLTEXT index leaves out, as the server is configured."""

    min_length: int = 3
    max_length: int = 84
    stopwords: frozenset[str] = frozenset()

    def indexed(self, word: str) -> bool:
        return self.min_length <= len(word) <= self.max_length and word not in self.stopwords


_RULES: FulltextRules | None = None
_SETTINGS = "SELECT @@innodb_ft_min_token_size, @@innodb_ft_max_token_size, @@innodb_ft_enable_stopword"


async def fulltext_rules(session: AsyncSession) -> FulltextRules:
    global _RULES
    if _RULES is None:
        row = (await session.execute(text(_SETTINGS))).one()
        stopwords: frozenset[str] = frozenset()
        if row[2]:
            found = await session.execute(
                text("SELECT value FROM information_schema.INNODB_FT_DEFAULT_STOPWORD")
            )
            stopwords = frozenset(str(v).lower() for v in found.scalars())
        _RULES = FulltextRules(int(row[0]), int(row[1]), stopwords)
    return _RULES


@dataclass(frozen=True, slots=True)
class Plan:
    """The search as statements: ``messages`` (newest first, no limit yet) and ``candidates``,
    the ids the full-text index finds. PostgreSQL plans ``candidates`` inside ``messages`` (and
    may start from the caller's chats when they are few); MariaDB runs it as a query of its own,
    so the FULLTEXT index drives it whatever the join order, and confirms rows word by word."""

    messages: Select[tuple[Message]]
    candidates: Select[tuple[int]] | None = None
    confirm: bool = False


async def statement(session: AsyncSession, *, user_id: int, words: list[str], chat_id: int | None) -> Plan:
    stmt = _scope(user_id, chat_id)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        query = func.plainto_tsquery(literal_column("'simple'::regconfig"), " ".join(words))
        hits = select(TSV.c.id).where(TSV.c.words.op("@@")(query))
        return Plan(stmt.where(Message.id.in_(hits)).order_by(Message.id.desc()), hits)
    if dialect == "sqlite":
        # Each word quoted: a phrase of one token, never FTS5 syntax; the words are ANDed.
        expression = " ".join(f'"{w}"' for w in words)
        fts = (
            text("SELECT rowid FROM messenger_messages_fts WHERE messenger_messages_fts MATCH :q")
            .bindparams(q=expression)
            .columns(rowid=Integer)
            .subquery()
        )
        return Plan(stmt.where(Message.id.in_(select(fts.c.rowid))).order_by(Message.id.desc()))
    rules = await fulltext_rules(session)
    indexed = [w for w in words if rules.indexed(w)]
    for word in words:
        if word not in indexed:
            stmt = stmt.where(func.lower(Message.text).like(f"%{_escape_like(word)}%", escape="\\"))
    candidates = None
    if indexed:
        # Words are letters and digits only: nothing here is boolean-mode syntax.
        required = " ".join(f'+"{w}"' for w in indexed)
        match = text("MATCH (messenger_messages_ft.text) AGAINST (:ft IN BOOLEAN MODE)")
        candidates = select(FT.c.id).where(match.bindparams(ft=required)).order_by(FT.c.id.desc())
    return Plan(stmt.order_by(Message.id.desc()), candidates, confirm=True)


async def search(
    *, session: AsyncSession, user_id: int, query: str, chat_id: int | None, limit: int
) -> list[Message]:
    words = words_of(query)
    if not words:
        return []
    plan = await statement(session, user_id=user_id, words=words, chat_id=chat_id)
    if not plan.confirm:
        return list((await session.scalars(plan.messages.limit(limit))).all())
    found: list[Message] = []
    before: int | None = None
    while len(found) < limit:
        page = plan.messages
        if plan.candidates is not None:
            ids_stmt = plan.candidates.limit(BATCH)
            if before is not None:
                ids_stmt = ids_stmt.where(FT.c.id < before)
            ids = list((await session.scalars(ids_stmt)).all())
            if not ids:
                break
            page = page.where(Message.id.in_(ids))
            rows = list((await session.scalars(page)).all())
            more, before = len(ids) == BATCH, ids[-1]
        else:
            page = page.limit(BATCH)
            if before is not None:
                page = page.where(Message.id < before)
            rows = list((await session.scalars(page)).all())
            more, before = len(rows) == BATCH, rows[-1].id if rows else None
        found += [m for m in rows if matches(m.text, words)]
        if not more:
            break
    return found[:limit]
