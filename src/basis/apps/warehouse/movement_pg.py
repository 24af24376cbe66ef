"""A batch of movements on PostgreSQL in two round trips (psycopg's pipeline mode).

The server still runs the statements one after another, each with a snapshot of its own
(READ COMMITTED), so the order is what makes them right:
1. claim the keys (waits for a transaction holding one of them), read the answers of the keys
   that were there, read the locations, lock the products in id order, read their levels
   (after the lock: they are what the previous holder committed), and take the entries' ids
   from their sequence (after the lock too, so a product's entries stay in commit order);
2. decide in Python (``movement_writer.plan``);
3. write the levels, the entries (one insert), the keys' answers, and commit.
A batch whose movements cross below a minimum commits through the session instead, which
writes the staged low-stock mails (``basis.core.outbox``) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.warehouse import ledger
from basis.apps.warehouse.catalogue import ensure_default_location
from basis.core.db import psycopg_connection
from basis.core.idempotency import Answer, in_progress, key_conflict
from basis.core.time import utcnow

if TYPE_CHECKING:
    from basis.apps.warehouse.movement_writer import Outcome, Request
    from basis.core.jobs import JobQueue

CLAIM = """
INSERT INTO warehouse_idempotency_keys (user_id, endpoint, key, request_hash, created_at)
SELECT u, %(endpoint)s, k, h, %(now)s
FROM unnest(%(users)s::int[], %(keys)s::varchar[], %(hashes)s::varchar[]) WITH ORDINALITY AS t(u, k, h, n)
ORDER BY n
ON CONFLICT DO NOTHING
RETURNING user_id, key"""
STORED = """
SELECT user_id, key, request_hash, status_code, response_body FROM warehouse_idempotency_keys
WHERE endpoint = %(endpoint)s AND user_id = ANY(%(users)s) AND key = ANY(%(keys)s)"""
LOCATIONS = "SELECT id, is_default FROM locations WHERE is_default OR id = ANY(%(ids)s)"
LOCK = """
SELECT id, unit, is_archived, min_quantity FROM products WHERE id = ANY(%(ids)s)
ORDER BY id FOR NO KEY UPDATE"""
LEVELS = "SELECT product_id, location_id, quantity FROM stock_levels WHERE product_id = ANY(%(ids)s)"
IDS = "SELECT nextval(pg_get_serial_sequence('stock_movements', 'id')) FROM generate_series(1, %(n)s)"
LEVEL_UPDATE = """
UPDATE stock_levels SET quantity = %(q)s, updated_at = %(now)s
WHERE product_id = %(p)s AND location_id = %(loc)s"""
LEVEL_INSERT = """
INSERT INTO stock_levels (product_id, location_id, quantity, updated_at)
VALUES (%(p)s, %(loc)s, %(q)s, %(now)s)"""
ENTRIES = """
INSERT INTO stock_movements (id, product_id, location_id, movement_type, quantity, balance_after, user_id,
    reason, reference, idempotency_key, created_at)
SELECT *, %(now)s FROM unnest(%(id)s::int[], %(product_id)s::int[], %(location_id)s::int[],
    %(movement_type)s::varchar[], %(quantity)s::numeric[], %(balance_after)s::numeric[], %(user_id)s::int[],
    %(reason)s::varchar[], %(reference)s::varchar[], %(idempotency_key)s::varchar[])"""
FINISH = """
UPDATE warehouse_idempotency_keys SET status_code = %(s)s, response_body = %(b)s
WHERE user_id = %(u)s AND endpoint = %(endpoint)s AND key = %(k)s"""
ENTRY_COLUMNS = (
    "id",
    "product_id",
    "location_id",
    "movement_type",
    "quantity",
    "balance_after",
    "user_id",
    "reason",
    "reference",
    "idempotency_key",
)


def supported() -> bool:
    return psycopg.Pipeline.is_supported()


async def decide_batch(
    session: AsyncSession, batch: Sequence[Request], *, endpoint: str, jobs: JobQueue | None
) -> list[Outcome]:
    async with psycopg_connection(await session.connection()) as raw:
        outcomes, _staged = await _run(session, raw, batch, endpoint, jobs)
    # Without staged mails the pipeline committed already; this ends the session's transaction
    # (and the outbox queues the staged mails as it commits).
    await session.commit()
    return outcomes


async def _run(
    session: AsyncSession,
    raw: psycopg.AsyncConnection[Any],
    batch: Sequence[Request],
    endpoint: str,
    jobs: JobQueue | None,
) -> tuple[list[Outcome], bool]:
    from basis.apps.warehouse.movement_writer import (
        answer_entries,
        entry_rows,
        leaders_of,
        plan,
        replay_of,
    )

    now = utcnow()
    outcomes: list[Outcome | None] = [None] * len(batch)
    first, followers = leaders_of(batch)
    claims = sorted(first.items())
    product_ids = sorted({r.data.product_id for r in batch})
    wanted_locations = sorted({r.data.location_id for r in batch if r.data.location_id is not None})
    async with raw.pipeline():
        claim = stored = None
        if claims:
            users = [user for (user, _key), _n in claims]
            keys = [key for (_user, key), _n in claims]
            claim = raw.cursor()
            await claim.execute(
                CLAIM,
                {
                    "endpoint": endpoint,
                    "now": now,
                    "users": users,
                    "keys": keys,
                    "hashes": [batch[n].digest for _scope, n in claims],
                },
            )
            stored = raw.cursor()
            await stored.execute(STORED, {"endpoint": endpoint, "users": users, "keys": keys})
        locations_cursor = raw.cursor()
        await locations_cursor.execute(LOCATIONS, {"ids": wanted_locations})
        lock = raw.cursor()
        await lock.execute(LOCK, {"ids": product_ids})
        levels_cursor = raw.cursor()
        await levels_cursor.execute(LEVELS, {"ids": product_ids})
        ids_cursor = raw.cursor()
        await ids_cursor.execute(IDS, {"n": len(batch)})
        claimed: set[tuple[int, str]] = set()
        answers: dict[tuple[int, str], Any] = {}
        if claim is not None and stored is not None:
            claimed = {(row[0], row[1]) for row in await claim.fetchall()}
            answers = {(row[0], row[1]): row for row in await stored.fetchall()}
        location_rows = await locations_cursor.fetchall()
        products = {
            row[0]: ledger.LockedProduct(row[0], row[1], row[2], row[3]) for row in await lock.fetchall()
        }
        levels: dict[tuple[int, int], Decimal] = {(r[0], r[1]): r[2] for r in await levels_cursor.fetchall()}
        ids = [row[0] for row in await ids_cursor.fetchall()]
    for scope, n in claims:
        if scope in claimed:
            continue
        row = answers.get(scope)
        if row is None or row[3] is None:
            outcomes[n] = in_progress()
        elif row[2] != batch[n].digest:
            outcomes[n] = key_conflict()
        else:
            outcomes[n] = Answer(row[3], row[4], replayed=True)
    locations: dict[int | None, int] = {}
    for location_id, is_default in location_rows:
        if location_id in wanted_locations:
            locations[location_id] = location_id
        if is_default:
            locations[None] = location_id
    todo = [n for n, outcome in enumerate(outcomes) if outcome is None and n not in followers]
    if None not in locations and any(batch[n].data.location_id is None for n in todo):
        locations[None] = await ensure_default_location(session)
    decided, accepted, balances = plan([batch[n] for n in todo], products, locations, levels)
    for n, outcome in zip(todo, decided, strict=True):
        outcomes[n] = outcome
    # Indexes into ``todo``'s sub-batch: back to the batch's own.
    accepted = [(todo[m], posting, after, crossed) for m, posting, after, crossed in accepted]
    rows = [
        {"id": movement_id, **row}
        for row, movement_id in zip(entry_rows(batch, accepted, now), ids, strict=False)
    ]
    staged = any(crossed for *_rest, crossed in accepted) and jobs is not None
    answer_entries(session, accepted, rows, [row["id"] for row in rows], outcomes, jobs)
    for follower, leader in followers.items():
        outcomes[follower] = replay_of(batch, follower, leader, outcomes)
    touched = {(posting.product_id, posting.location_id) for _n, posting, _a, _c in accepted}
    async with raw.pipeline():
        updates = [
            {"p": p, "loc": loc, "q": balances[(p, loc)], "now": now}
            for p, loc in touched
            if (p, loc) in levels
        ]
        inserts = [
            {"p": p, "loc": loc, "q": balances[(p, loc)], "now": now}
            for p, loc in touched
            if (p, loc) not in levels
        ]
        if updates:
            await raw.cursor().executemany(LEVEL_UPDATE, updates)
        if inserts:
            await raw.cursor().executemany(LEVEL_INSERT, inserts)
        if rows:
            arrays: dict[str, Any] = {name: [row[name] for row in rows] for name in ENTRY_COLUMNS}
            await raw.cursor().execute(ENTRIES, {**arrays, "now": now})
        finished = [_finished(batch, n, outcomes[n], endpoint) for _scope, n in claims if _scope in claimed]
        if finished:
            await raw.cursor().executemany(FINISH, finished)
        if not staged:
            await raw.commit()
    return [outcome for outcome in outcomes if outcome is not None], staged


def _finished(batch: Sequence[Request], n: int, outcome: Outcome | None, endpoint: str) -> dict[str, Any]:
    from basis.core.errors import BasisError

    assert outcome is not None
    if isinstance(outcome, BasisError):  # refusals are kept and replayed too (W5)
        outcome = Answer(outcome.status_code, outcome.body())
    return {
        "s": outcome.status,
        "b": Json(outcome.body),
        "u": batch[n].actor_id,
        "k": batch[n].key,
        "endpoint": endpoint,
    }
