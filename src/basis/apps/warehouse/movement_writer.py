"""Group commit for ``POST /stock-movements``: the movements a process receives at the same
time are decided together, in arrival order, in one transaction.

Why: a movement's time went into holding its product's row lock across five round trips (lock,
levels, level, entry, commit), each waiting for a turn of a busy event loop, so one hot product
took one movement per lock hold. A conditional ``UPDATE ... WHERE quantity >= :q`` shortens the
hold to the statements after it, but the entry, the key and the commit still follow one by one,
it leaves the product's total (W7) unknown, and a transfer's two levels would make two
serialisation points of one product. A batch keeps the product row lock as the one point (every
other writer of stock, transfers, checks, other processes, still takes it) and shares each lock
hold, round trip and commit among all the batch's movements of that product.

A batch, in one transaction:
1. claims its ``Idempotency-Key`` rows in one sorted order (a key another transaction holds is
   waited for, then replayed); keys are claimed before any product lock, so batches never wait
   on each other in a cycle;
2. resolves its locations, locks its products in id order and reads their levels (one
   statement each);
3. decides each movement against the levels as the movements before it left them (W2, W3):
   a refusal is that movement's answer and writes nothing;
4. writes the final levels, all entries (one insert), the keys' answers and the low-stock jobs
   of every crossing (W7), then commits.
So a batch ends exactly as its movements one by one would. A deadlock or lock timeout runs the
batch again; any other database error decides its movements one by one, so one bad movement
fails only itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from basis.apps.warehouse import exceptions as exc
from basis.apps.warehouse import ledger, movement_pg
from basis.apps.warehouse.catalogue import ensure_default_location
from basis.apps.warehouse.movements import LOW_STOCK_JOB
from basis.apps.warehouse.schemas import MovementCreate, MovementPublic
from basis.core.batching import BatchQueue, batch_metrics
from basis.core.db import retry_transient
from basis.core.errors import BasisError, ServiceUnavailable
from basis.core.idempotency import Answer, IdempotencyStore, fingerprint, key_conflict
from basis.core.jobs import JobQueue
from basis.core.logging import get_logger
from basis.core.time import utcnow

log = get_logger("basis.warehouse")

ENDPOINT = "POST /stock-movements"
MAX_BATCH = 256
WORKERS = 2
"""Batches in their transactions at once, each on its own connection: while one holds a hot
product's lock, the next is read and waits for it."""
METRICS = batch_metrics("basis_warehouse_movement", "Movements")

Outcome = Answer | BasisError


@dataclass(slots=True)
class Request:
    data: MovementCreate
    actor_id: int
    key: str | None
    payload: Any
    """What W5 compares: the same key with another payload is a conflict."""
    digest: str


def movement_answer(row: dict[str, Any]) -> Answer:
    return Answer(201, MovementPublic.model_validate(row).model_dump(mode="json", by_alias=True))


def _replay(outcome: Outcome) -> Outcome:
    """What a retry in the same batch gets: the first request's answer, as a replay."""
    if isinstance(outcome, Answer):
        return Answer(outcome.status, outcome.body, replayed=True)
    if outcome.status_code < 500:
        return Answer(outcome.status_code, outcome.body(), replayed=True)
    return outcome


class MovementWriter:
    """The queue of a process's movements, worked off batch by batch by ``workers`` tasks."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        keys: IdempotencyStore,
        jobs: JobQueue | None,
        *,
        max_batch: int = MAX_BATCH,
        workers: int = WORKERS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._keys = keys
        self._jobs = jobs
        self._queue: BatchQueue[Request, Outcome | BaseException] = BatchQueue(
            self._decide,
            name="warehouse-movement-writer",
            unavailable=_unavailable,
            closing=lambda: ServiceUnavailable(
                "The server is shutting down; send the movement again", code="shutting_down"
            ),
            metrics=METRICS,
            max_batch=max_batch,
            workers=workers,
        )

    async def submit(self, data: MovementCreate, *, actor_id: int, key: str | None, payload: Any) -> Answer:
        """The movement's answer (a replay for a known key); raises its refusal."""
        request = Request(data, actor_id, key, payload, fingerprint(payload) if key is not None else "")
        (outcome,) = await self._queue.submit([request])
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def close(self) -> None:
        """Decide what is queued, then stop."""
        await self._queue.close()

    async def _decide(self, batch: list[Request]) -> list[Outcome | BaseException]:
        try:
            return list(await self._transaction(batch))
        except DBAPIError as error:
            if len(batch) > 1:
                log.info(
                    "warehouse_movement_batch_split", movements=len(batch), error=type(error.orig).__name__
                )
                return [outcome for request in batch for outcome in await self._decide([request])]
            return [error]

    async def _transaction(self, batch: list[Request]) -> list[Outcome]:
        async with self._sessionmaker() as session:

            async def attempt() -> list[Outcome]:
                return await decide_batch(session, batch, keys=self._keys, jobs=self._jobs)

            outcomes = await retry_transient(
                attempt, before_retry=session.rollback, on_retry=ledger.log_retry
            )
        return outcomes


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The movement could not be stored just now; send it again", code="unavailable")


# --- one batch, one transaction


async def decide_batch(
    session: AsyncSession, batch: Sequence[Request], *, keys: IdempotencyStore, jobs: JobQueue | None
) -> list[Outcome]:
    """Decide and commit ``batch`` (see the module's docstring); one outcome per request."""
    if session.get_bind().dialect.name == "postgresql" and movement_pg.supported():
        return await movement_pg.decide_batch(session, batch, endpoint=ENDPOINT, jobs=jobs)
    outcomes: list[Outcome | None] = [None] * len(batch)
    leaders = await _claim_keys(session, batch, keys, outcomes)
    todo = [n for n, outcome in enumerate(outcomes) if outcome is None and n not in leaders.followers]
    if todo:
        rows = await _post(session, [batch[n] for n in todo], jobs)
        for n, outcome in zip(todo, rows, strict=True):
            outcomes[n] = outcome
    for follower, leader in leaders.followers.items():
        outcomes[follower] = replay_of(batch, follower, leader, outcomes)
    await _finish_keys(session, batch, keys, leaders.claimed, outcomes)
    await session.commit()
    return [outcome for outcome in outcomes if outcome is not None]


def leaders_of(batch: Sequence[Request]) -> tuple[dict[tuple[int, str], int], dict[int, int]]:
    """The first request of each (user, key) in the batch, and the later ones that repeat it."""
    first: dict[tuple[int, str], int] = {}
    followers: dict[int, int] = {}
    for n, request in enumerate(batch):
        if request.key is None:
            continue
        scope_key = (request.actor_id, request.key)
        if scope_key in first:
            followers[n] = first[scope_key]
        else:
            first[scope_key] = n
    return first, followers


def replay_of(
    batch: Sequence[Request], follower: int, leader: int, outcomes: list[Outcome | None]
) -> Outcome:
    """A retry that arrived in the same batch as its first request: that request's answer."""
    leading = outcomes[leader]
    assert leading is not None
    return _replay(leading) if batch[follower].digest == batch[leader].digest else key_conflict()


@dataclass(slots=True)
class _Claims:
    claimed: list[int] = field(default_factory=list)
    """Indexes of the requests whose key this batch reserved."""
    followers: dict[int, int] = field(default_factory=dict)
    """A request repeating an earlier one's key in this batch -> that earlier request."""


async def _claim_keys(
    session: AsyncSession, batch: Sequence[Request], keys: IdempotencyStore, outcomes: list[Outcome | None]
) -> _Claims:
    claims = _Claims()
    first, claims.followers = leaders_of(batch)
    # One order for every batch of every process: key rows are never waited for in a cycle.
    for (actor_id, key), n in sorted(first.items()):
        scope = {"user_id": actor_id, "endpoint": ENDPOINT}
        try:
            got = await keys.claim(session, scope=scope, key=key, payload=batch[n].payload)
        except BasisError as error:
            outcomes[n] = error
            continue
        if isinstance(got, Answer):
            outcomes[n] = got
        else:
            claims.claimed.append(n)
    return claims


async def _finish_keys(
    session: AsyncSession,
    batch: Sequence[Request],
    keys: IdempotencyStore,
    claimed: list[int],
    outcomes: list[Outcome | None],
) -> None:
    answers = []
    for n in claimed:
        outcome = outcomes[n]
        assert outcome is not None
        if isinstance(outcome, BasisError):  # refusals are kept and replayed too (W5)
            outcome = Answer(outcome.status_code, outcome.body())
        answers.append({"u": batch[n].actor_id, "k": batch[n].key, "s": outcome.status, "b": outcome.body})
    if not answers:
        return
    table: Table = keys.table
    stmt = (
        update(table)
        .where(table.c.user_id == bindparam("u"), table.c.endpoint == ENDPOINT, table.c.key == bindparam("k"))
        .values(status_code=bindparam("s"), response_body=bindparam("b"))
    )
    conn = await session.connection()
    await conn.execute(stmt, answers[0] if len(answers) == 1 else answers)


Accepted = list[tuple[int, ledger.Posting, Decimal, bool]]
"""(index in the batch, posting, balance after it, whether it crossed below the minimum)."""


async def _post(session: AsyncSession, batch: Sequence[Request], jobs: JobQueue | None) -> list[Outcome]:
    """The ledger part: locations, locks, levels, decisions, writes."""
    locations = await _locations(session, batch)
    products = await ledger.lock_products(session, {r.data.product_id for r in batch})
    levels = await ledger.read_levels(session, products) if products else {}
    outcomes, accepted, balances = plan(batch, products, locations, levels)
    if accepted:
        await _write(session, batch, accepted, levels, balances, outcomes, jobs)
    return [outcome for outcome in outcomes if outcome is not None]


def plan(
    batch: Sequence[Request],
    products: dict[int, ledger.LockedProduct],
    locations: dict[int | None, int],
    levels: dict[tuple[int, int], Decimal],
) -> tuple[list[Outcome | None], Accepted, dict[tuple[int, int], Decimal]]:
    """Each movement in order against the levels the ones before it left (W2, W3, W7): its
    refusal, or None and an accepted entry; and the levels at the end."""
    balances = dict(levels)
    totals: dict[int, Decimal] = {}
    for (product_id, _loc), quantity in levels.items():
        totals[product_id] = totals.get(product_id, ledger.ZERO) + quantity
    below = {p: totals.get(p, ledger.ZERO) < product.min_quantity for p, product in products.items()}
    outcomes: list[Outcome | None] = []
    accepted: Accepted = []
    for n, request in enumerate(batch):
        try:
            posting = _posting(request.data, products, locations)
        except BasisError as error:
            outcomes.append(error)
            continue
        key = (posting.product_id, posting.location_id)
        before = balances.get(key, ledger.ZERO)
        after = before + posting.delta
        if after < 0:
            outcomes.append(
                exc.insufficient_stock(
                    product_id=posting.product_id,
                    location_id=posting.location_id,
                    available=before,
                    requested=abs(posting.quantity),
                )
            )
            continue
        balances[key] = after
        total = totals.get(posting.product_id, ledger.ZERO) + posting.delta
        totals[posting.product_id] = total
        now_below = total < products[posting.product_id].min_quantity
        crossed = now_below and not below[posting.product_id]
        below[posting.product_id] = now_below
        accepted.append((n, posting, after, crossed))
        outcomes.append(None)
    return outcomes, accepted, balances


async def _locations(session: AsyncSession, batch: Sequence[Request]) -> dict[int | None, int]:
    """Given location id -> id for those that exist; None -> the default location."""
    wanted = {r.data.location_id for r in batch if r.data.location_id is not None}
    locations = ledger.LOCATIONS
    condition = locations.c.is_default == true()
    if wanted:
        condition = or_(condition, locations.c.id.in_(wanted))
    found: dict[int | None, int] = {}
    for row in await session.execute(select(locations.c.id, locations.c.is_default).where(condition)):
        if row.id in wanted:
            found[row.id] = row.id
        if row.is_default:
            found[None] = row.id
    if None not in found and any(r.data.location_id is None for r in batch):
        found[None] = await ensure_default_location(session)
    return found


def _posting(
    data: MovementCreate, products: dict[int, ledger.LockedProduct], locations: dict[int | None, int]
) -> ledger.Posting:
    product = products.get(data.product_id)
    if product is None:
        raise exc.product_not_found(data.product_id)
    location_id = locations.get(data.location_id)
    if location_id is None:
        raise exc.location_not_found(data.location_id)
    if product.is_archived:
        raise exc.product_archived(product.id)
    ledger.check_quantity(product, data.quantity)
    return ledger.Posting(
        product.id,
        location_id,
        data.movement_type,
        data.quantity,
        reason=data.reason,
        reference=data.reference,
    )


def entry_rows(batch: Sequence[Request], accepted: Accepted, now: Any) -> list[dict[str, Any]]:
    return [
        {
            "product_id": posting.product_id,
            "location_id": posting.location_id,
            "movement_type": posting.movement_type,
            "quantity": posting.quantity,
            "balance_after": after,
            "user_id": batch[n].actor_id,
            "reason": posting.reason,
            "reference": posting.reference,
            "idempotency_key": batch[n].key,
            "transfer_id": None,
            "check_id": None,
            "created_at": now,
        }
        for n, posting, after, _ in accepted
    ]


def answer_entries(
    session: AsyncSession,
    accepted: Accepted,
    rows: list[dict[str, Any]],
    ids: Sequence[int],
    outcomes: list[Outcome | None],
    jobs: JobQueue | None,
) -> None:
    """Each accepted movement's answer; a low-stock mail staged for each crossing (W7)."""
    for (n, posting, _after, crossed), row, movement_id in zip(accepted, rows, ids, strict=True):
        row["id"] = movement_id
        outcomes[n] = movement_answer(row)
        if crossed and jobs is not None:
            jobs.stage(
                session,
                LOW_STOCK_JOB,
                key=f"warehouse.low_stock:{posting.product_id}:{movement_id}",
                product_id=posting.product_id,
                movement_id=movement_id,
            )


async def _write(
    session: AsyncSession,
    batch: Sequence[Request],
    accepted: Accepted,
    levels: dict[tuple[int, int], Decimal],
    balances: dict[tuple[int, int], Decimal],
    outcomes: list[Outcome | None],
    jobs: JobQueue | None,
) -> None:
    now = utcnow()
    touched = {(posting.product_id, posting.location_id) for _, posting, _, _ in accepted}
    await ledger.write_levels(session, {key: balances[key] for key in touched}, levels, now)
    rows = entry_rows(batch, accepted, now)
    ids = await ledger.insert_entries(session, rows)
    answer_entries(session, accepted, rows, ids, outcomes, jobs)
