"""Matching as a service: load the market, run the engine, store what it proposes.

The engine (``engine.py``) decides; this module only reads the snapshot it needs, stores new
proposals as exchanges (one per combination of users and items: ``Exchange.open_key`` is
unique), notifies their participants and cancels proposed exchanges that no longer fit.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import exchanges as exchange_service
from basis.apps.exchange.engine import Item, Market, Proposal, Rules, Seat
from basis.apps.exchange.listings import _visible
from basis.apps.exchange.models import (
    OPEN_STATUSES,
    Exchange,
    ExchangeEvent,
    ListingItem,
    MatchingRun,
    Notification,
    Participant,
    UserCity,
    new_exchange_id,
)
from basis.apps.exchange.schemas import MatchingStatus, PipelineResult
from basis.apps.exchange.settings import ExchangeSettings
from basis.core.db import insert_or_skip
from basis.core.logging import get_logger
from basis.core.time import utcnow

log = get_logger("basis.exchange.matching")


@dataclass(slots=True)
class RunOutcome:
    created: list[str] = field(default_factory=list)
    created_kinds: dict[str, int] = field(default_factory=lambda: {"pair": 0, "chain": 0})
    """What this run stored, by kind (a proposal a concurrent run stored first is not counted)."""
    cancelled: list[str] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    """``{user_id, id, type, exchange_id}`` of each stored notification, to publish after commit."""
    truncated: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    """Where the run's time went: ``read`` (the market, stale proposals cancelled), ``engine``
    and ``store`` (new proposals written and committed)."""


def rules_of(settings: ExchangeSettings) -> Rules:
    return Rules.of(settings.fit_tolerance, settings.min_score, settings.max_chain, settings.max_cycles)


async def load_market(session: AsyncSession, rules: Rules) -> Market:
    rows = await session.execute(
        select(
            ListingItem.id,
            ListingItem.user_id,
            ListingItem.item_type,
            ListingItem.category,
            ListingItem.exchange_type,
            ListingItem.value_tenge,
            ListingItem.duration_days,
        ).where(_visible())
    )
    items = [Item(*row) for row in rows]
    cities: dict[int, list[str]] = defaultdict(list)
    for user_id, city in await session.execute(select(UserCity.user_id, UserCity.city)):
        cities[user_id].append(city)
    return Market(items, cities, rules)


async def _open_seats(session: AsyncSession, user_ids: Sequence[int] | None) -> dict[str, list[Seat]]:
    """The seats of every proposed exchange (of these members)."""
    stmt = (
        select(
            Participant.exchange_id, Participant.user_id, Participant.offer_item_id, Participant.want_item_id
        )
        .join(Exchange, Exchange.id == Participant.exchange_id)
        .where(Exchange.status == "proposed")
        .order_by(Participant.exchange_id, Participant.position)
    )
    if user_ids is not None:
        mine = select(Participant.exchange_id).where(Participant.user_id.in_(user_ids))
        stmt = stmt.where(Participant.exchange_id.in_(mine))
    seats: dict[str, list[Seat]] = defaultdict(list)
    for exchange_id, user_id, offer_id, want_id in await session.execute(stmt):
        seats[exchange_id].append(Seat(user_id, offer_id, want_id))
    return seats


async def _known(session: AsyncSession, combinations: Iterable[str]) -> set[str]:
    keys = list(combinations)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(await session.scalars(select(Exchange.open_key).where(Exchange.open_key.in_(chunk))))
    return found


STORE_BATCH = 500
"""Proposals stored per batch: their exchanges, seats, events and notifications go in as one
multi-row insert per table (SQLAlchemy's "insertmanyvalues": one statement compiled once, sent
with the rows of the whole batch)."""


def _insert_skipping(session: AsyncSession) -> Any:
    """PostgreSQL's and SQLite's INSERT INTO exchanges that skips a row whose open_key is taken."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(Exchange.__table__).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(Exchange.__table__).on_conflict_do_nothing()


async def _insert_exchanges(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Inserts these exchanges; the ids that went in. A row whose ``open_key`` is taken (proposed
    meanwhile by a concurrent run) is skipped, so storing is idempotent."""
    table = Exchange.__table__
    if session.get_bind().dialect.name != "mysql":
        return set(await session.scalars(_insert_skipping(session).returning(table.c.id), rows))
    try:
        async with session.begin_nested():
            await session.execute(insert(table), rows)
    except IntegrityError:
        # A concurrent run proposed one of them: the savepoint undid the batch; row by row now.
        return {r["id"] for r in rows if await insert_or_skip(session, table, r)}  # type: ignore[arg-type]
    return {r["id"] for r in rows}


async def _insert_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = Notification.__table__
    stmt = insert(table).returning(table.c.id, table.c.user_id, table.c.type, table.c.payload)  # type: ignore[attr-defined]
    return [
        {"user_id": user_id, "id": id_, "type": type_, "exchange_id": payload["exchange_id"]}
        for id_, user_id, type_, payload in await session.execute(stmt, rows)
    ]


async def _store(session: AsyncSession, proposals: Sequence[Proposal], outcome: RunOutcome) -> None:
    """Stores new proposals in batches, one multi-row insert per table and batch."""
    for start in range(0, len(proposals), STORE_BATCH):
        await _store_batch(session, proposals[start : start + STORE_BATCH], outcome)


async def _store_batch(session: AsyncSession, batch: Sequence[Proposal], outcome: RunOutcome) -> None:
    now = utcnow()
    ids = [new_exchange_id() for _ in batch]
    exchanges = [
        {"id": exchange_id, "kind": p.kind, "exchange_type": p.exchange_type, "status": "proposed",
         "score": p.score, "combination": p.combination, "open_key": p.combination,
         "created_at": now, "updated_at": now}
        for exchange_id, p in zip(ids, batch, strict=True)
    ]  # fmt: skip
    inserted = await _insert_exchanges(session, exchanges)
    stored = [(i, p) for i, p in zip(ids, batch, strict=True) if i in inserted]
    if not stored:
        return
    seats = [
        {"exchange_id": i, "position": n, "user_id": s.user_id, "offer_item_id": s.offer_item_id,
         "want_item_id": s.want_item_id, "decision": "pending", "confirmed": False}
        for i, p in stored
        for n, s in enumerate(p.seats)
    ]  # fmt: skip
    await session.execute(insert(Participant.__table__), seats)
    events = [
        {"exchange_id": i, "event_type": "created", "user_id": None, "created_at": now} for i, _ in stored
    ]
    await session.execute(insert(ExchangeEvent.__table__), events)
    notes = [
        {"user_id": s.user_id, "type": "bilateral_match" if p.kind == "pair" else "chain_match",
         "payload": {"exchange_id": i, "score": p.score}, "read": False, "created_at": now}
        for i, p in stored
        for s in p.seats
    ]  # fmt: skip
    outcome.notifications += await _insert_notifications(session, notes)
    outcome.created += [i for i, _ in stored]
    for _, p in stored:
        outcome.created_kinds[p.kind] += 1


async def rematch(
    session: AsyncSession, *, settings: ExchangeSettings, user_ids: Sequence[int] | None
) -> RunOutcome:
    """Brings proposals up to date for these members (all when None) and commits."""
    started, clock = utcnow(), time.perf_counter()
    market = await load_market(session, rules_of(settings))
    outcome = RunOutcome()
    for exchange_id, seats in (await _open_seats(session, user_ids)).items():
        if market.evaluate(seats) is None:
            if await exchange_service.cancel(
                session, exchange_id, reason="no_longer_fits", only_proposed=True
            ):
                outcome.cancelled.append(exchange_id)
    outcome.seconds["read"] = time.perf_counter() - clock
    result = market.find(user_ids)
    outcome.seconds["engine"] = time.perf_counter() - clock - outcome.seconds["read"]
    outcome.truncated = result.truncated
    if result.truncated:
        log.warning("exchange_matching_truncated", found=len(result.proposals), steps=result.steps)
    known = await _known(session, (p.combination for p in result.proposals))
    await _store(session, [p for p in result.proposals if p.combination not in known], outcome)
    session.add(
        MatchingRun(
            scope_user_id=user_ids[0] if user_ids and len(user_ids) == 1 else None,
            started_at=started,
            finished_at=utcnow(),
            bilateral_matches=outcome.created_kinds["pair"],
            chains_discovered=outcome.created_kinds["chain"],
            participants_notified=len({n["user_id"] for n in outcome.notifications}),
            cancelled=len(outcome.cancelled),
        )
    )
    await session.commit()
    outcome.seconds["store"] = (
        time.perf_counter() - clock - outcome.seconds["read"] - outcome.seconds["engine"]
    )
    return outcome


async def counts(session: AsyncSession, *, user_id: int | None) -> PipelineResult:
    """Open exchanges (proposed or active) in scope, by kind, and their participants."""
    sizes = (
        select(Participant.exchange_id, func.count().label("n")).group_by(Participant.exchange_id).subquery()
    )
    stmt = (
        select(Exchange.kind, func.count(), func.coalesce(func.sum(sizes.c.n), 0))
        .join(sizes, sizes.c.exchange_id == Exchange.id)
        .where(Exchange.status.in_(OPEN_STATUSES))
        .group_by(Exchange.kind)
    )
    if user_id is not None:
        stmt = stmt.where(
            Exchange.id.in_(select(Participant.exchange_id).where(Participant.user_id == user_id))
        )
    by_kind = {kind: (int(n), int(people)) for kind, n, people in await session.execute(stmt)}
    pairs, chains = by_kind.get("pair", (0, 0)), by_kind.get("chain", (0, 0))
    return PipelineResult(
        bilateral_matches=pairs[0],
        exchange_chains=chains[0],
        total_participants=pairs[1] + chains[1],
        errors=[],
    )


async def status(session: AsyncSession) -> MatchingStatus:
    last = await session.scalar(select(func.max(MatchingRun.finished_at)))
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(MatchingRun.bilateral_matches), 0),
                func.coalesce(func.sum(MatchingRun.chains_discovered), 0),
                func.coalesce(func.sum(MatchingRun.participants_notified), 0),
            )
        )
    ).one()
    return MatchingStatus(
        last_run=last,
        bilateral_matches=int(totals[0]),
        chains_discovered=int(totals[1]),
        participants_notified=int(totals[2]),
    )
