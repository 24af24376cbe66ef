"""Exchanges once proposed: decisions, confirmations, completion exactly once, history, lists.

Lock order, everywhere: listing items first (in id order), then exchanges (in id order). The
confirm that completes an exchange archives its items and cancels the exchanges competing for
them, so it takes the item locks before the exchange's own; a concurrent confirm of a competing
exchange queues on the same item locks instead of waiting in a cycle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.listings import archive_items
from basis.apps.exchange.models import (
    OPEN_STATUSES,
    Exchange,
    ExchangeEvent,
    ListingItem,
    Participant,
)
from basis.apps.exchange.schemas import (
    ConfirmResult,
    DecisionResult,
    ExchangePublic,
    History,
    HistoryEvent,
    ParticipantPublic,
)
from basis.core.db import lock_row, lock_rows
from basis.core.time import utcnow
from basis.identity.models import User

# --- reading


def public(exchange: Exchange, participants: Sequence[Participant]) -> ExchangePublic:
    seats = sorted(participants, key=lambda p: p.position)
    return ExchangePublic(
        id=exchange.id,
        kind=exchange.kind,
        exchange_type=exchange.exchange_type,
        status=exchange.status,
        score=exchange.score,
        participants=[
            ParticipantPublic(
                user_id=p.user_id,
                offer_item_id=p.offer_item_id,
                want_item_id=p.want_item_id,
                decision=p.decision,
                reason=p.reason,
                confirmed=p.confirmed,
            )
            for p in seats
        ],
        items=[i for p in seats for i in (p.offer_item_id, p.want_item_id)],
        created_at=exchange.created_at,
        completed_at=exchange.completed_at,
    )


async def participants_of(session: AsyncSession, exchange_ids: Sequence[str]) -> dict[str, list[Participant]]:
    out: dict[str, list[Participant]] = defaultdict(list)
    if not exchange_ids:
        return out
    rows = await session.scalars(
        select(Participant)
        .where(Participant.exchange_id.in_(exchange_ids))
        .order_by(Participant.exchange_id, Participant.position)
        .execution_options(populate_existing=True)
    )
    for p in rows:
        out[p.exchange_id].append(p)
    return out


async def _load(session: AsyncSession, exchange_id: str) -> tuple[Exchange, list[Participant]]:
    exchange = await session.get(Exchange, exchange_id, populate_existing=True)
    if exchange is None:
        raise exc.exchange_not_found()
    return exchange, (await participants_of(session, [exchange_id]))[exchange_id]


def _seat(participants: Sequence[Participant], user_id: int) -> Participant | None:
    return next((p for p in participants if p.user_id == user_id), None)


async def visible(
    session: AsyncSession, *, exchange_id: str, user: User
) -> tuple[Exchange, list[Participant]]:
    """The exchange for a participant or an admin: 404 for an unknown id, else 403."""
    exchange, participants = await _load(session, exchange_id)
    if _seat(participants, user.id) is None and user.role != "admin":
        raise exc.not_participant()
    return exchange, participants


async def is_participant(session: AsyncSession, *, exchange_id: str, user_id: int) -> bool:
    found = await session.scalar(
        select(Participant.id).where(Participant.exchange_id == exchange_id, Participant.user_id == user_id)
    )
    return found is not None


async def get(session: AsyncSession, *, exchange_id: str, user: User) -> ExchangePublic:
    return public(*await visible(session, exchange_id=exchange_id, user=user))


async def history(session: AsyncSession, *, exchange_id: str, user: User) -> History:
    _, participants = await visible(session, exchange_id=exchange_id, user=user)
    events = await session.scalars(
        select(ExchangeEvent).where(ExchangeEvent.exchange_id == exchange_id).order_by(ExchangeEvent.id)
    )
    return History(
        exchange_id=exchange_id,
        participants=[p.user_id for p in participants],
        history=[
            HistoryEvent(event_type=e.event_type, user_id=e.user_id, created_at=e.created_at) for e in events
        ],
    )


async def page(
    session: AsyncSession,
    *,
    user_id: int | None,
    statuses: Sequence[str] | None,
    skip: int = 0,
    limit: int | None = None,
) -> tuple[list[ExchangePublic], int]:
    stmt = select(Exchange)
    if user_id is not None:
        stmt = stmt.where(
            Exchange.id.in_(select(Participant.exchange_id).where(Participant.user_id == user_id))
        )
    if statuses is not None:
        stmt = stmt.where(Exchange.status.in_(statuses))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(Exchange.created_at.desc(), Exchange.id).offset(skip)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = list(await session.scalars(stmt))
    seats = await participants_of(session, [e.id for e in rows])
    return [public(e, seats[e.id]) for e in rows], total


# --- changing


def _event(session: AsyncSession, exchange_id: str, event_type: str, user_id: int | None) -> None:
    session.add(
        ExchangeEvent(exchange_id=exchange_id, event_type=event_type, user_id=user_id, created_at=utcnow())
    )


async def cancel(
    session: AsyncSession, exchange_id: str, *, reason: str, only_proposed: bool = False
) -> bool:
    """Cancels the exchange if it is still open (or proposed); True when this call did."""
    statuses = ("proposed",) if only_proposed else OPEN_STATUSES
    now = utcnow()
    done = await session.execute(
        update(Exchange)
        .where(Exchange.id == exchange_id, Exchange.status.in_(statuses))
        .values(status="cancelled", open_key=None, cancel_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return False
    _event(session, exchange_id, "cancelled", None)
    return True


async def open_using(session: AsyncSession, item_ids: Sequence[int]) -> list[str]:
    if not item_ids:
        return []
    uses = select(Participant.exchange_id).where(
        or_(Participant.offer_item_id.in_(item_ids), Participant.want_item_id.in_(item_ids))
    )
    stmt = (
        select(Exchange.id)
        .where(Exchange.id.in_(uses), Exchange.status.in_(OPEN_STATUSES))
        .order_by(Exchange.id)
    )
    return list(await session.scalars(stmt))


async def cancel_using(
    session: AsyncSession, item_ids: Sequence[int], *, reason: str, keep: str | None = None
) -> list[str]:
    """Cancels every open exchange that uses one of these items (except ``keep``)."""
    ids = [e for e in await open_using(session, item_ids) if e != keep]
    await lock_rows(session, Exchange.__table__, ids)  # type: ignore[arg-type]
    return [e for e in ids if await cancel(session, e, reason=reason)]


async def archive(session: AsyncSession, *, item_id: int, user_id: int) -> list[str]:
    """DELETE of a listing item: archived, and every open exchange using it cancelled."""
    row = await lock_row(session, ListingItem.__table__, item_id, columns=[ListingItem.user_id])  # type: ignore[arg-type]
    if row is None:
        raise exc.item_not_found()
    if row.user_id != user_id:
        raise exc.not_yours()
    await archive_items(session, [item_id])
    return await cancel_using(session, [item_id], reason="item_archived")


async def _locked(session: AsyncSession, exchange_id: str) -> tuple[Exchange, list[Participant]]:
    if await lock_row(session, Exchange.__table__, exchange_id) is None:  # type: ignore[arg-type]
        raise exc.exchange_not_found()
    return await _load(session, exchange_id)


async def _participant_locked(
    session: AsyncSession, exchange_id: str, user_id: int
) -> tuple[Exchange, list[Participant], Participant]:
    """Checks in the contract's order (404, then 403) before taking the lock."""
    if await session.scalar(select(Exchange.id).where(Exchange.id == exchange_id)) is None:
        raise exc.exchange_not_found()
    if not await is_participant(session, exchange_id=exchange_id, user_id=user_id):
        raise exc.not_participant()
    exchange, participants = await _locked(session, exchange_id)
    seat = _seat(participants, user_id)
    assert seat is not None
    return exchange, participants, seat


async def accept(session: AsyncSession, *, exchange_id: str, user_id: int) -> DecisionResult:
    exchange, participants, seat = await _participant_locked(session, exchange_id, user_id)
    if seat.decision == "accepted":
        return DecisionResult(
            chain_id=exchange.id, user_id=user_id, status="accepted", exchange_status=exchange.status
        )
    if exchange.status != "proposed":
        raise exc.wrong_status(exchange.status, "accept")
    seat.decision, seat.decided_at, seat.reason = "accepted", utcnow(), None
    _event(session, exchange.id, "accepted", user_id)
    if all(p.decision == "accepted" for p in participants):
        exchange.status = "active"
    await session.flush()
    return DecisionResult(
        chain_id=exchange.id, user_id=user_id, status="accepted", exchange_status=exchange.status
    )


async def decline(
    session: AsyncSession, *, exchange_id: str, user_id: int, reason: str | None
) -> DecisionResult:
    exchange, _, seat = await _participant_locked(session, exchange_id, user_id)
    if seat.decision == "declined":
        return DecisionResult(
            chain_id=exchange.id, user_id=user_id, status="declined", exchange_status=exchange.status
        )
    if exchange.status != "proposed":
        raise exc.wrong_status(exchange.status, "decline")
    seat.decision, seat.decided_at, seat.reason = "declined", utcnow(), reason
    # open_key stays: a declined combination is never proposed again.
    exchange.status = "declined"
    _event(session, exchange.id, "declined", user_id)
    await session.flush()
    return DecisionResult(
        chain_id=exchange.id, user_id=user_id, status="declined", exchange_status=exchange.status
    )


async def confirm(session: AsyncSession, *, exchange_id: str, user_id: int) -> ConfirmResult:
    if await session.scalar(select(Exchange.id).where(Exchange.id == exchange_id)) is None:
        raise exc.exchange_not_found()
    if not await is_participant(session, exchange_id=exchange_id, user_id=user_id):
        raise exc.not_participant()
    item_ids = sorted(
        {
            i
            for row in await session.execute(
                select(Participant.offer_item_id, Participant.want_item_id).where(
                    Participant.exchange_id == exchange_id
                )
            )
            for i in row
        }
    )
    await lock_rows(session, ListingItem.__table__, item_ids)  # type: ignore[arg-type]
    exchange, participants = await _locked(session, exchange_id)
    seat = _seat(participants, user_id)
    assert seat is not None
    members = [p.user_id for p in participants]

    def answer(archived: list[int]) -> ConfirmResult:
        return ConfirmResult(
            exchange_id=exchange.id,
            confirmed_by=user_id,
            participants=members,
            items_archived=archived,
            exchange_status=exchange.status,
        )

    if seat.confirmed:
        return answer(item_ids if exchange.status == "completed" else [])
    if exchange.status != "active":
        raise exc.wrong_status(exchange.status, "confirm")
    now = utcnow()
    seat.confirmed, seat.confirmed_at = True, now
    _event(session, exchange.id, "confirmed", user_id)
    if not all(p.confirmed for p in participants):
        await session.flush()
        return answer([])
    exchange.status, exchange.completed_at, exchange.open_key = "completed", now, None
    _event(session, exchange.id, "completed", None)
    await session.flush()
    archived = await archive_items(session, item_ids)
    await cancel_using(session, item_ids, reason="competing_exchange_completed", keep=exchange.id)
    await session.flush()
    return answer(archived)
