"""Scan ingestion with group commit: R4-R8 for many scans in one transaction.

Every scan of a process goes through one ``ScanWriter`` (``scan_writer``). Requests queue their
scans; the writer takes what is queued (up to ``MAX_BATCH``) and ``process`` decides the whole
batch in one transaction: one read of the batch's terminals, one locking read of its employees, one read
of their events around the scans, one insert, one commit. Under load a batch grows with the
queue, so round trips and the commit are shared by many scans; a lone scan is a batch of one
and waits for nothing.

Scans are decided one after another in arrival order, each against the employee's events as
they stand after the scans before it, so a batch ends exactly as the same scans one by one
would (tests check this). Across processes the employee rows, locked in one order by every
batch, keep R8: two taps of one card at two processes still take turns.

On PostgreSQL a batch costs two network round trips: its reads go out together (psycopg's
pipeline mode; the server still runs them one after another, each seeing what committed
before it), and so do its writes and the commit. The other databases run the same statements
one by one.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client import Counter
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    String,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.types import TypeEngine

from basis.apps.timetracker import engine
from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.models import Employee, Event, Terminal
from basis.apps.timetracker.policy import max_shift
from basis.apps.timetracker.schemas import EventPublic, ScanResult
from basis.apps.timetracker.settings import TimetrackerSettings
from basis.apps.timetracker.timeline import PENDING_ID
from basis.core.db import driver_sql, psycopg_connection
from basis.core.errors import BasisError
from basis.core.logging import get_logger
from basis.core.time import from_ms, to_ms, utcnow
from basis.settings import Settings

EVENTS = Event.__table__
TERMINALS = Terminal.__table__
EMPLOYEES = Employee.__table__
LOCK_TIMEOUT_SECONDS = 5
"""How long a batch waits for an employee row another transaction holds. Past it the batch
is split and only the scans of the blocked employee wait again (then answer 503): one stuck
transaction must not hold up every door of the site."""

log = get_logger("basis.timetracker.ingest")

SCANS = Counter(
    "basis_timetracker_scans_total",
    "Terminal scans by outcome: accepted, duplicate, replayed or the refusal's code",
    ["outcome"],
)


# ------------------------------------------------------------------------------ the inputs


@dataclass(slots=True)
class TerminalCtx:
    """The terminal behind a request's key, as read when the key was checked."""

    id: int
    name: str
    require_signature: bool
    last_seen_at: dt.datetime | None
    key_hash: str


@dataclass(slots=True)
class ScanRequest:
    uid: str
    direction: str | None
    ts_ms: int | None
    client_event_id: str | None

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.uid}|{self.ts_ms}|{self.direction}".encode()).hexdigest()


@dataclass(slots=True)
class Scan:
    terminal: TerminalCtx
    req: ScanRequest
    signed_key: str | None = None
    """For a signed scan: the phone key its signature was checked with; it must still be the
    employee's active key when the scan is decided."""
    kept: str | None = None
    """The answer kept under the scan's client_event_id when it was a duplicate (``Outcome.kept``
    of the first try): nothing was stored then, so this is what a retry is answered with."""


@dataclass(slots=True)
class Outcome:
    """What the writer decided for one scan, and what the request does with it afterwards."""

    result: ScanResult
    feed: Callable[[], dict[str, Any]] | None = None
    """Builds the live-feed message of an accepted scan (only when someone may hear it)."""
    kept: str | None = None
    """A duplicate answer to keep under the scan's client_event_id (nothing else remembers it)."""


Answer = Outcome | BasisError


# ------------------------------------------------------------------------ the statements

_INSERTED = (
    "employee_id",
    "terminal_id",
    "ts",
    "received_at",
    "direction",
    "direction_source",
    "is_manual",
    "client_event_id",
    "request_hash",
)


@dataclass(frozen=True, slots=True)
class _Statements:
    """A batch's statements for one database. A list parameter is one array on PostgreSQL:
    one statement text whatever the batch size, which psycopg keeps parsed and the server
    prepared (an expanded IN list or a multi-row VALUES is new text for every size)."""

    terminals: Executable
    lock_employees: Executable
    stored: Executable
    window: Executable
    insert: Executable
    redirect: Executable

    @classmethod
    @functools.cache
    def of(cls, dialect: str) -> _Statements:
        postgresql = dialect == "postgresql"

        def among(column: ColumnElement[Any], name: str, item: TypeEngine[Any]) -> ColumnElement[bool]:
            if postgresql:
                return column == any_(bindparam(name, type_=ARRAY(item)))
            return column.in_(bindparam(name, expanding=True))

        terminals = select(
            TERMINALS.c.id,
            TERMINALS.c.name,
            TERMINALS.c.key_hash,
            TERMINALS.c.is_active,
            TERMINALS.c.require_signature,
        ).where(among(TERMINALS.c.id, "terminal_ids", Integer()))
        cards = among(EMPLOYEES.c.nfc_uid, "uids", String())
        # One lock order for every batch (the unique index's), so that two batches never wait
        # for each other in a circle.
        lock_employees = (
            select(
                EMPLOYEES.c.nfc_uid,
                EMPLOYEES.c.id,
                EMPLOYEES.c.full_name,
                EMPLOYEES.c.is_active,
                EMPLOYEES.c.key_status,
                EMPLOYEES.c.public_key,
            )
            .where(cards)
            .order_by(EMPLOYEES.c.nfc_uid)
            .with_for_update()
        )
        stored = (
            select(
                EVENTS.c.terminal_id,
                EVENTS.c.client_event_id,
                EVENTS.c.id,
                EVENTS.c.employee_id,
                EMPLOYEES.c.full_name,
                EVENTS.c.ts,
                EVENTS.c.direction,
                EVENTS.c.request_hash,
            )
            .join(EMPLOYEES, EMPLOYEES.c.id == EVENTS.c.employee_id)
            .where(
                among(EVENTS.c.terminal_id, "keyed_terminal_ids", Integer()),
                among(EVENTS.c.client_event_id, "client_ids", String()),
            )
        )
        # The employees' events from ``since`` on (the batch's earliest scan less the longer
        # of the cooldown and the maximum shift): all a decision looks at.
        columns = (
            EVENTS.c.employee_id,
            EVENTS.c.id,
            EVENTS.c.ts,
            EVENTS.c.direction,
            EVENTS.c.direction_source,
        )
        recent = (EVENTS.c.ts >= bindparam("since", type_=EVENTS.c.ts.type), EVENTS.c.deleted_at.is_(None))
        window = (
            select(*columns).join(EMPLOYEES, EMPLOYEES.c.id == EVENTS.c.employee_id).where(cards, *recent)
        )
        insert_: Executable = insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True)
        if postgresql:
            # Rows in the arrays' order, so identity values are drawn in that order too.
            arrays = [bindparam(name, type_=ARRAY(EVENTS.c[name].type)) for name in _INSERTED]
            rows = (
                func.unnest(*arrays)
                .table_valued(*_INSERTED, with_ordinality="ordinality")
                .render_derived(name="batch")
            )
            ordered = select(*(rows.c[name] for name in _INSERTED)).order_by(rows.c.ordinality)
            insert_ = insert(EVENTS).from_select(list(_INSERTED), ordered).returning(EVENTS.c.id)
        redirect = (
            update(EVENTS).where(EVENTS.c.id == bindparam("b_id")).values(direction=bindparam("b_direction"))
        )
        return cls(terminals, lock_employees, stored, window, insert_, redirect)


def _in_order(event: engine.EventIn) -> tuple[dt.datetime, int]:
    return event.ts, event.id


def scan_instant(req: ScanRequest, now: dt.datetime, settings: Settings) -> dt.datetime:
    """R5: device time is trusted within [now - max age, now + max skew]."""
    if req.ts_ms is None:
        return now
    ts = from_ms(req.ts_ms)
    oldest = now - dt.timedelta(days=settings.app(TimetrackerSettings).max_scan_age_days)
    newest = now + dt.timedelta(seconds=settings.app(TimetrackerSettings).max_clock_skew_seconds)
    if ts < oldest:
        raise exc.clock_skew(
            f"The scan time {ts.isoformat()} is older than "
            f"{settings.app(TimetrackerSettings).max_scan_age_days} days; "
            "enter it as a manual event"
        )
    if ts > newest:
        raise exc.clock_skew(
            f"The scan time {ts.isoformat()} is ahead of the server's clock ({now.isoformat()}) by more "
            f"than {settings.app(TimetrackerSettings).max_clock_skew_seconds} s; correct the terminal's clock"
        )
    return ts


# ------------------------------------------------------------------------ the batch's state


@dataclass(slots=True)
class _TerminalRow:
    id: int
    name: str
    key_hash: str
    is_active: bool
    require_signature: bool


@dataclass(slots=True)
class _Person:
    id: int
    full_name: str
    is_active: bool
    key_status: str
    public_key: str | None
    events: list[engine.EventIn] = field(default_factory=list)
    """Not deleted, ts order: the events read plus this batch's accepted scans so far."""


@dataclass(slots=True)
class _Stored:
    """An accepted scan under a (terminal, client_event_id), stored or earlier in this batch."""

    event_id: int
    employee_id: int
    full_name: str
    ts: dt.datetime
    direction: str
    request_hash: str | None


@dataclass(slots=True)
class _Decision:
    status: str  # accepted | duplicate | replayed | kept | echo | refused
    error: BasisError | None = None
    event_id: int = 0
    """A stored event's id, or a pending one's (``PENDING_ID + n``) until the insert."""
    employee_id: int = 0
    full_name: str = ""
    direction: str = ""
    ts: dt.datetime = dt.datetime.min
    kept: ScanResult | None = None
    echo: int | None = None
    """For a retry of a duplicate earlier in this batch: that scan's index."""


class _Batch:
    """One transaction's worth of scans: what to read, the decisions, what to write."""

    def __init__(self, scans: Sequence[Scan], settings: Settings, now: dt.datetime) -> None:
        self.scans = scans
        self.settings = settings
        self.now = now
        self.shift = max_shift(settings)
        self.cooldown = dt.timedelta(seconds=settings.app(TimetrackerSettings).terminal_scan_cooldown_seconds)
        self.terminals: dict[int, _TerminalRow] = {}
        self.people: dict[str, _Person] = {}
        self.stored: dict[tuple[int, str], _Stored] = {}
        self.stored_events: dict[int, _Stored] = {}
        self.echoes: dict[tuple[int, str], tuple[str, int]] = {}
        """Duplicates with a client_event_id in this batch: (fingerprint, index). Nothing is
        stored for them; a retry among the next scans gets their answer, as it would later
        from the kept answers."""
        self.inserts: list[dict[str, Any]] = []
        self.redirects: dict[int, str] = {}
        self.decisions: list[_Decision] = []

    def reads(self, sql: _Statements) -> list[tuple[str, Executable, dict[str, Any]]]:
        """The batch's reads, to run in this order in its transaction. Every parameter is known
        before the first runs, so they can all go to the database at once. The events are read
        after the employees are locked: a scan another process committed while this batch
        waited for a lock is among them (READ COMMITTED reads afresh for every statement)."""
        uids = sorted({s.req.uid for s in self.scans})
        reads: list[tuple[str, Executable, dict[str, Any]]] = [
            ("terminals", sql.terminals, {"terminal_ids": sorted({s.terminal.id for s in self.scans})}),
            ("people", sql.lock_employees, {"uids": uids}),
        ]
        keyed = [s for s in self.scans if s.req.client_event_id is not None]
        if keyed:
            params = {
                "keyed_terminal_ids": sorted({s.terminal.id for s in keyed}),
                "client_ids": sorted({str(s.req.client_event_id) for s in keyed}),
            }
            reads.append(("stored", sql.stored, params))
        reads.append(("window", sql.window, {"uids": uids, "since": self._since()}))
        return reads

    def absorb(self, name: str, rows: Iterable[Sequence[Any]]) -> None:
        if name == "terminals":
            self.terminals = {r[0]: _TerminalRow(*r) for r in rows}
        elif name == "people":
            self.people = {r[0]: _Person(*r[1:]) for r in rows}
        elif name == "stored":
            self.stored = {(r[0], r[1]): _Stored(*r[2:]) for r in rows}
            self.stored_events = {kept.event_id: kept for kept in self.stored.values()}
        else:
            by_id = {p.id: p for p in self.people.values()}
            for r in rows:
                # .get: a card given to one of these employees since their lock was read
                person = by_id.get(r[0])
                if person is not None:
                    person.events.append(engine.EventIn(r[1], r[2], r[3], r[4]))
            for person in by_id.values():
                person.events.sort(key=_in_order)

    def _since(self) -> dt.datetime:
        """The earliest instant a scan of the batch may have, less what a decision looks back:
        the cooldown, and the maximum shift for the IN a scan may close."""
        oldest = self.now - dt.timedelta(days=self.settings.app(TimetrackerSettings).max_scan_age_days)
        instants = [from_ms(s.req.ts_ms) for s in self.scans if s.req.ts_ms is not None]
        return min(max(oldest, min(instants, default=self.now)), self.now) - max(self.shift, self.cooldown)

    def decide_all(self) -> None:
        """Every scan in arrival order, each seeing what the ones before it did."""
        for scan in self.scans:
            try:
                decision = self._decide(scan)
            except BasisError as error:
                decision = _Decision("refused", error)
            if decision.status == "duplicate" and scan.req.client_event_id is not None:
                key = (scan.terminal.id, scan.req.client_event_id)
                self.echoes[key] = (scan.req.fingerprint, len(self.decisions))
            self.decisions.append(decision)

    def _decide(self, scan: Scan) -> _Decision:
        req = scan.req
        terminal = self.terminals.get(scan.terminal.id)
        if terminal is None or terminal.key_hash != scan.terminal.key_hash:
            raise exc.unknown_terminal()  # deleted, or its key rotated since the request came in
        if not terminal.is_active:
            raise exc.terminal_inactive()
        if scan.kept is not None:
            data = json.loads(scan.kept)
            if data["h"] != req.fingerprint:
                raise exc.idempotency_conflict()
            return _Decision("kept", kept=ScanResult.model_validate({**data["r"], "replayed": True}))
        if req.client_event_id is not None:
            echo = self.echoes.get((terminal.id, req.client_event_id))
            if echo is not None:
                if echo[0] != req.fingerprint:
                    raise exc.idempotency_conflict()
                return _Decision("echo", echo=echo[1])
            # R6, before any other rule: a retry gets its original answer even if the scan would
            # be refused now (the employee left since, the 7 days passed).
            kept = self.stored.get((terminal.id, req.client_event_id))
            if kept is not None:
                if kept.request_hash is not None and kept.request_hash != req.fingerprint:
                    raise exc.idempotency_conflict()
                return _Decision(
                    "replayed", None, kept.event_id, kept.employee_id, kept.full_name, kept.direction, kept.ts
                )
        person = self.people.get(req.uid)
        if person is None:
            raise exc.unknown_card()
        if not person.is_active:
            raise exc.employee_inactive()
        if scan.signed_key is not None:
            if person.key_status != "active" or person.public_key != scan.signed_key:
                raise exc.key_not_active()
        elif terminal.require_signature and person.key_status == "active":
            raise exc.signature_required()
        ts = scan_instant(req, self.now, self.settings)

        # R4: the nearest accepted scan closer than the cooldown, on either side in ts order.
        nearest = min(person.events, key=lambda e: abs(e.ts - ts), default=None)
        if nearest is not None and abs(nearest.ts - ts) < self.cooldown:
            return _Decision(
                "duplicate", None, nearest.id, person.id, person.full_name, str(nearest.direction), nearest.ts
            )
        return self._accept(scan, terminal, person, ts)

    def _accept(self, scan: Scan, terminal: _TerminalRow, person: _Person, ts: dt.datetime) -> _Decision:
        """R2: the direction from the scan's place among the employee's events; later derived
        directions are re-derived when this scan lands before them."""
        req = scan.req
        source = "device" if req.direction is not None else "derived"
        pending_id = PENDING_ID + len(self.inserts)  # sorts after stored ids, in arrival order
        pending = engine.EventIn(pending_id, ts, req.direction, source)  # type: ignore[arg-type]
        derived = dict(
            engine.derive_directions([*person.events, pending], self.shift, trust_stored_before=ts)
        )
        direction = derived[pending_id]
        events = []
        for event in person.events:
            if event.source == "derived" and derived[event.id] != event.direction:
                event = event._replace(direction=derived[event.id])
                if event.id >= PENDING_ID:
                    self.inserts[event.id - PENDING_ID]["direction"] = event.direction
                else:
                    self.redirects[event.id] = event.direction  # type: ignore[assignment]
                if event.id in self.stored_events:  # a replay later in the batch answers with it
                    self.stored_events[event.id].direction = str(event.direction)
            events.append(event)
        accepted = pending._replace(direction=direction)
        bisect.insort(events, accepted, key=_in_order)
        person.events = events
        self.inserts.append(
            {
                "employee_id": person.id,
                "terminal_id": terminal.id,
                "ts": ts,
                "received_at": self.now,
                "direction": direction,
                "direction_source": source,
                "is_manual": False,
                "client_event_id": req.client_event_id,
                "request_hash": req.fingerprint if req.client_event_id is not None else None,
            }
        )
        if req.client_event_id is not None:
            kept = _Stored(pending_id, person.id, person.full_name, ts, direction, req.fingerprint)
            self.stored[(terminal.id, req.client_event_id)] = self.stored_events[pending_id] = kept
        return _Decision("accepted", None, pending_id, person.id, person.full_name, direction, ts)

    def insert_params(self, postgresql: bool) -> Any:
        """The insert's parameters: one array per column on PostgreSQL, rows elsewhere."""
        if postgresql:
            return {name: [row[name] for row in self.inserts] for name in _INSERTED}
        return self.inserts

    def redirect_params(self) -> list[dict[str, Any]]:
        return [{"b_id": k, "b_direction": v} for k, v in self.redirects.items()]

    def outcomes(self, ids: Sequence[int]) -> list[Answer]:
        def real(event_id: int) -> int:
            return ids[event_id - PENDING_ID] if event_id >= PENDING_ID else event_id

        answers: list[Answer] = []
        for scan, decision in zip(self.scans, self.decisions, strict=True):
            if decision.error is not None:
                SCANS.labels(decision.error.code).inc()
                answers.append(decision.error)
                continue
            if decision.kept is not None:
                SCANS.labels("replayed").inc()
                answers.append(Outcome(decision.kept))
                continue
            if decision.echo is not None:
                SCANS.labels("replayed").inc()
                first = answers[decision.echo]
                assert isinstance(first, Outcome)
                answers.append(Outcome(first.result.model_copy(update={"replayed": True})))
                continue
            event_id = real(decision.event_id)
            duplicate = decision.status == "duplicate"
            result = ScanResult(
                status="duplicate" if duplicate else "accepted",
                message=(
                    f"Duplicate scan ignored: within {self.cooldown.seconds} s of event {event_id}"
                    if duplicate
                    else "Scan accepted"
                ),
                event_id=event_id,
                employee_id=decision.employee_id,
                employee_name=decision.full_name,
                direction=decision.direction,  # type: ignore[arg-type]
                ts=to_ms(decision.ts),
                ts_utc=decision.ts,
                replayed=True if decision.status == "replayed" else None,
            )
            SCANS.labels("replayed" if result.replayed else result.status).inc()
            outcome = Outcome(result)
            if decision.status == "accepted":
                outcome.feed = functools.partial(self._feed, scan, decision, event_id)
            elif duplicate and scan.req.client_event_id is not None:
                outcome.kept = json.dumps({"h": scan.req.fingerprint, "r": result.model_dump(mode="json")})
            answers.append(outcome)
        return answers

    def _feed(self, scan: Scan, decision: _Decision, event_id: int) -> dict[str, Any]:
        terminal = self.terminals[scan.terminal.id]
        event = EventPublic(
            id=event_id,
            employee_id=decision.employee_id,
            terminal_id=terminal.id,
            ts=decision.ts,
            received_at=self.now,
            direction=decision.direction,
            direction_source="device" if scan.req.direction is not None else "derived",
            is_manual=False,
            comment=None,
            created_by=None,
            client_event_id=scan.req.client_event_id,
            deleted_at=None,
        )
        return {
            "type": "scan",
            "event": {**event.model_dump(mode="json"), "terminal_name": terminal.name},
            "employee": {"id": decision.employee_id, "full_name": decision.full_name},
        }


# ------------------------------------------------------------------ running a transaction


async def _run_sequential(conn: AsyncConnection, batch: _Batch) -> list[int]:
    """The batch on a SQLAlchemy connection, statement by statement (in a begun transaction)."""
    sql = _Statements.of(conn.dialect.name)
    for name, statement, params in batch.reads(sql):
        batch.absorb(name, await conn.execute(statement, params))
    batch.decide_all()
    ids: list[int] = []
    if batch.inserts:
        ids = [row[0] for row in await conn.execute(sql.insert, batch.insert_params(False))]
    if batch.redirects:
        await conn.execute(sql.redirect, batch.redirect_params())
    return ids


async def _run_pipelined(conn: AsyncConnection, batch: _Batch) -> list[int]:
    """The batch on PostgreSQL in two round trips: the reads together, then the writes and
    the commit together. Runs on the driver's connection; errors come back as SQLAlchemy's."""
    sql = _Statements.of("postgresql")

    async def send(
        cursor: psycopg.AsyncCursor[Any], statement: Executable, params: Any, many: bool = False
    ) -> None:
        query, defaults = driver_sql(statement, conn.dialect)
        if many:
            await cursor.executemany(query, [{**defaults, **p} for p in params])
        else:
            await cursor.execute(query, {**defaults, **params})

    async with psycopg_connection(conn) as raw:
        async with raw.pipeline():
            await raw.cursor().execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")
            reads = []
            for name, statement, params in batch.reads(sql):
                cursor = raw.cursor()
                await send(cursor, statement, params)
                reads.append((name, cursor))
            for name, cursor in reads:
                batch.absorb(name, await cursor.fetchall())
        batch.decide_all()
        async with raw.pipeline():
            inserted = raw.cursor()
            if batch.inserts:
                await send(inserted, sql.insert, batch.insert_params(True))
            if batch.redirects:
                await send(raw.cursor(), sql.redirect, batch.redirect_params(), many=True)
            await raw.commit()
            return sorted(row[0] for row in await inserted.fetchall()) if batch.inserts else []


async def process(conn: AsyncConnection, scans: Sequence[Scan], settings: Settings) -> list[Answer]:
    """Decide and store one batch in one transaction on ``conn``, committed when this returns."""
    batch = _Batch(scans, settings, utcnow())
    dialect = conn.dialect.name
    if dialect == "postgresql" and psycopg.Pipeline.is_supported():
        ids = await _run_pipelined(conn, batch)
    elif dialect == "mysql":
        # A session variable on a pooled connection: set for this batch, then the default again.
        try:
            async with conn.begin():
                await conn.exec_driver_sql(f"SET innodb_lock_wait_timeout = {LOCK_TIMEOUT_SECONDS}")
                ids = await _run_sequential(conn, batch)
        finally:
            with contextlib.suppress(DBAPIError):  # a lost connection keeps nothing to reset
                await conn.exec_driver_sql("SET innodb_lock_wait_timeout = DEFAULT")
    else:
        async with conn.begin():
            ids = await _run_sequential(conn, batch)
    return batch.outcomes(ids)
