"""The terminal protocol: who the terminal is, scans (R4-R8), batches, signed scans, phone key
enrollment and heartbeats. Scans themselves are decided by the writer in ``ingest.py``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.ingest import SCANS, Outcome, Scan, ScanRequest, TerminalCtx
from basis.apps.timetracker.keys import b64decode_any, hash_key, parse_public_key
from basis.apps.timetracker.models import Employee, Event, Terminal
from basis.apps.timetracker.parsing import normalise_direction, normalise_uid
from basis.apps.timetracker.scan_writer import ScanWriter
from basis.apps.timetracker.schemas import (
    BatchItemResult,
    ChallengeOut,
    FirstScanIn,
    FirstScanOut,
    HeartbeatOut,
    NfcEmployee,
    NfcEvent,
    NfcIn,
    NfcOut,
    NfcTerminal,
    ScanIn,
    ScanResult,
    SecureScanIn,
)
from basis.apps.timetracker.service import audit
from basis.apps.timetracker.settings import TimetrackerSettings
from basis.core import outage
from basis.core.db import Database
from basis.core.errors import BasisError, ServiceUnavailable, TooManyRequests
from basis.core.infra import Infra
from basis.core.logging import get_logger
from basis.core.time import local_to_utc, to_ms, utcnow
from basis.settings import Settings

log = get_logger("basis.timetracker.terminal")

TERMINALS = Terminal.__table__
EMPLOYEES = Employee.__table__
EVENTS = Event.__table__
SCAN_TOPIC = "timetracker.scans"
CHALLENGE_TTL_SECONDS = 30
IDEMPOTENCY_TTL_SECONDS = 30 * 24 * 3600
LAST_SEEN_EVERY = dt.timedelta(minutes=1)

_TERMINAL_BY_KEY = select(
    TERMINALS.c.id,
    TERMINALS.c.name,
    TERMINALS.c.is_active,
    TERMINALS.c.require_signature,
    TERMINALS.c.last_seen_at,
)
_EMPLOYEE_KEY = select(EMPLOYEES.c.id, EMPLOYEES.c.is_active, EMPLOYEES.c.key_status, EMPLOYEES.c.public_key)


# ------------------------------------------------------------------------- authentication


async def _lookup(session: AsyncSession, key: str | None) -> TerminalCtx:
    """R7: the terminal is the one whose key came with the request."""
    if not key:
        raise exc.unknown_terminal()
    return await _lookup_hash(session, hash_key(key))


async def _lookup_hash(session: AsyncSession, key_hash: str) -> TerminalCtx:
    row = (await session.execute(_TERMINAL_BY_KEY.where(TERMINALS.c.key_hash == key_hash))).first()
    if row is None:
        raise exc.unknown_terminal()
    if not row[2]:
        raise exc.terminal_inactive()
    return TerminalCtx(
        id=row[0], name=row[1], require_signature=row[3], last_seen_at=row[4], key_hash=key_hash
    )


async def _check_rate(ctx: TerminalCtx, *, infra: Infra, settings: Settings) -> None:
    rate = settings.app(TimetrackerSettings).terminal_rate_limit
    limit = await infra.limiter.hit(rate, "tt-terminal", str(ctx.id))
    if not limit.allowed:
        raise TooManyRequests(
            "Too many calls from this terminal", retry_after=limit.retry_after, extra={"ok": False}
        )


async def check_item_budget(ctx: TerminalCtx, items: int, *, infra: Infra, settings: Settings) -> None:
    """A batch's items against the terminal's item budget: the whole batch, or 429."""
    if items <= 0:
        return
    budget = settings.app(TimetrackerSettings).terminal_item_limit
    limit = await infra.limiter.hit(budget, "tt-terminal-items", str(ctx.id), cost=items)
    if not limit.allowed:
        raise TooManyRequests(
            f"Too many scan items from this terminal ({budget}); this batch of {items} items was not "
            "read: send it again after Retry-After seconds",
            retry_after=limit.retry_after,
            extra={"ok": False},
        )


async def authenticate(
    session: AsyncSession, key: str | None, *, infra: Infra, settings: Settings
) -> TerminalCtx:
    """The terminal as the database has it now, then its rate limit."""
    ctx = await _lookup(session, key)
    await _check_rate(ctx, infra=infra, settings=settings)
    return ctx


class KnownTerminals:
    """Terminals by key hash, remembered for a while by the scan endpoints.

    Safe because the scan writer reads every terminal of a batch again in its transaction: an
    entry gone stale (key rotated, terminal deactivated) lets a request reach the writer, never
    a scan in. The other terminal calls ask the database every time.
    """

    TTL_SECONDS = 60.0
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[TerminalCtx, float]] = {}

    async def authenticate(
        self, db: Database, key: str | None, *, infra: Infra, settings: Settings
    ) -> TerminalCtx:
        if not key:
            raise exc.unknown_terminal()
        key_hash = hash_key(key)
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            async with db.sessionmaker() as session:
                ctx = await _lookup_hash(session, key_hash)
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key_hash] = (ctx, time.monotonic() + self.TTL_SECONDS)
        else:
            ctx = entry[0]
        await _check_rate(ctx, infra=infra, settings=settings)
        return ctx

    def forget(self, ctx: TerminalCtx) -> None:
        self._entries.pop(ctx.key_hash, None)

    async def confirm(self, db: Database, ctx: TerminalCtx) -> None:
        """The database's word on a remembered terminal, for an answer the writer never saw
        (a malformed body, an empty upload): a rotated key is a 401 there too."""
        try:
            async with db.sessionmaker() as session:
                await _lookup_hash(session, ctx.key_hash)
        except BasisError:
            self.forget(ctx)
            raise


def check_terminal_id(ctx: TerminalCtx, claimed: int | None) -> None:
    if claimed is not None and claimed != ctx.id:
        raise exc.terminal_mismatch()


def _last_seen_stale(ctx: TerminalCtx, now: dt.datetime) -> bool:
    return ctx.last_seen_at is None or now - ctx.last_seen_at >= LAST_SEEN_EVERY


async def touch(session: AsyncSession, ctx: TerminalCtx, now: dt.datetime) -> None:
    """``last_seen_at`` at most once a minute per terminal, never a write per scan."""
    if not _last_seen_stale(ctx, now):
        return
    ctx.last_seen_at = now  # first, so that requests meanwhile do not write it again
    await session.execute(
        update(TERMINALS)
        .where(
            TERMINALS.c.id == ctx.id,
            or_(TERMINALS.c.last_seen_at.is_(None), TERMINALS.c.last_seen_at < now - LAST_SEEN_EVERY),
        )
        .values(last_seen_at=now)
    )


# ---------------------------------------------------------------------------------- scans


@dataclass(slots=True)
class Pipeline:
    """What the scan endpoints of one process share: the writer and the known terminals."""

    writer: ScanWriter
    terminals: KnownTerminals
    db: Database
    infra: Infra
    settings: Settings

    @classmethod
    def of(cls, db: Database, infra: Infra, settings: Settings) -> Pipeline:
        return cls(ScanWriter(db, settings), KnownTerminals(), db, infra, settings)

    async def terminal(self, key: str | None) -> TerminalCtx:
        """The scan endpoints' terminal: remembered keys, checked again by the writer."""
        return await self.terminals.authenticate(self.db, key, infra=self.infra, settings=self.settings)

    async def confirm(self, ctx: TerminalCtx) -> None:
        await self.terminals.confirm(self.db, ctx)


def _idempotency_key(ctx: TerminalCtx, client_event_id: str) -> str:
    digest = hashlib.sha256(client_event_id.encode()).hexdigest()[:32]
    return f"tt:idem:{ctx.id}:{digest}"


async def _ingest(pipeline: Pipeline, ctx: TerminalCtx, scans: list[Scan]) -> list[ScanResult | BasisError]:
    """Scans of one request through the writer (in this order), then what follows a decision:
    the live feed, kept duplicate answers, the terminal's last_seen_at. A terminal the writer
    no longer knows (key rotated, deactivated since the key was remembered) fails the request."""
    for scan in scans:
        if scan.req.client_event_id is not None:
            try:
                scan.kept = await pipeline.infra.kv.get(_idempotency_key(ctx, scan.req.client_event_id))
            except outage.HANDLED as error:
                # Redis is away: the database still recognises a resend, a little slower.
                outage.OUTAGES.failed(error, "timetracker scan replay cache")
    answers = await pipeline.writer.submit(scans) if scans else []
    for answer in answers:
        if isinstance(answer, BasisError) and answer.code in ("unknown_terminal", "terminal_inactive"):
            pipeline.terminals.forget(ctx)
            raise answer
    results: list[ScanResult | BasisError] = []
    for scan, answer in zip(scans, answers, strict=True):
        if isinstance(answer, Outcome):
            await _follow_up(pipeline, ctx, scan, answer)
            results.append(answer.result)
        else:
            results.append(answer)
    now = utcnow()
    if _last_seen_stale(ctx, now):
        # In a transaction of its own, after the scans committed: inside theirs it would
        # deadlock on MariaDB (an event insert takes a shared lock on its terminal row, and two
        # batches would each wait for the other's to turn it into a write lock).
        # The scans are stored whatever happens here: a "last seen" the database cannot take
        # now (disk full, connection lost) must not turn their answers into errors.
        try:
            async with pipeline.db.sessionmaker() as session:
                await touch(session, ctx, now)
                await session.commit()
        except Exception as error:
            ctx.last_seen_at = None  # try again with the next request
            if isinstance(error, outage.HANDLED):
                outage.OUTAGES.failed(error, "timetracker last seen")
            else:
                log.error("timetracker_last_seen_failed", terminal_id=ctx.id, exc_info=error)
    return results


async def _ingest_one(pipeline: Pipeline, ctx: TerminalCtx, scan: Scan) -> ScanResult:
    [answer] = await _ingest(pipeline, ctx, [scan])
    if isinstance(answer, BasisError):
        raise answer
    return answer


async def _follow_up(pipeline: Pipeline, ctx: TerminalCtx, scan: Scan, outcome: Outcome) -> None:
    infra = pipeline.infra
    if outcome.kept is not None and scan.req.client_event_id is not None:
        try:
            await infra.kv.set(
                _idempotency_key(ctx, scan.req.client_event_id), outcome.kept, IDEMPOTENCY_TTL_SECONDS
            )
        except outage.HANDLED as error:
            # The scan is stored: a resend is recognised by the database instead of this cache.
            outage.OUTAGES.failed(error, "timetracker scan replay cache")
    if outcome.feed is not None and infra.hub.heard(SCAN_TOPIC):
        try:
            await infra.hub.publish(SCAN_TOPIC, outcome.feed())
        except ServiceUnavailable:
            pass  # the stored scan stands; the hub's outage is logged once by core.outage
        except Exception:
            # The scan is stored; a live view that misses it catches up on its next reload.
            log.warning("timetracker_feed_publish_failed", exc_info=True)


def count_refusal(code: str) -> None:
    """A scan refused before the writer saw it (the writer counts its own decisions)."""
    SCANS.labels(code).inc()


def scan_request(payload: ScanIn) -> ScanRequest:
    return ScanRequest(
        uid=normalise_uid(payload.uid),
        direction=normalise_direction(payload.direction),
        ts_ms=payload.ts,
        client_event_id=payload.client_event_id,
    )


async def scan(pipeline: Pipeline, ctx: TerminalCtx, payload: ScanIn) -> ScanResult:
    try:
        check_terminal_id(ctx, payload.terminal_id)
        req = scan_request(payload)
    except BasisError as error:
        count_refusal(error.code)
        await pipeline.confirm(ctx)
        raise
    return await _ingest_one(pipeline, ctx, Scan(ctx, req))


def nfc_request(payload: NfcIn, *, zone: str) -> ScanRequest:
    """The original's tap as a scan: the same request the scan route builds, so the same rules
    decide it. A naive ``ts`` is the site's wall clock, as the original read it."""
    ts_ms = None
    if payload.ts is not None:
        ts_ms = to_ms(local_to_utc(payload.ts, zone) if payload.ts.tzinfo is None else payload.ts)
    return ScanRequest(
        uid=normalise_uid(payload.nfc_uid),
        direction=normalise_direction(payload.direction, required=True),
        ts_ms=ts_ms,
        client_event_id=payload.client_event_id,
    )


async def nfc(pipeline: Pipeline, ctx: TerminalCtx, payload: NfcIn) -> NfcOut:
    """``POST /api/nfc``: the scan route's pipeline, answered in the original's shape."""
    try:
        req = nfc_request(payload, zone=pipeline.settings.timezone)
    except BasisError as error:
        count_refusal(error.code)
        await pipeline.confirm(ctx)
        raise
    result = await _ingest_one(pipeline, ctx, Scan(ctx, req))
    terminal_id: int | None = ctx.id
    if result.status == "duplicate":
        # The accepted event the duplicate names may come from another terminal.
        async with pipeline.db.sessionmaker() as session:
            terminal_id = await session.scalar(
                select(EVENTS.c.terminal_id).where(EVENTS.c.id == result.event_id)
            )
    return NfcOut(
        status=result.status,
        message=result.message,
        event=NfcEvent(
            id=result.event_id,
            employee_id=result.employee_id,
            terminal_id=terminal_id,
            direction=result.direction,
            ts=result.ts_utc,
        ),
        employee=NfcEmployee(id=result.employee_id, full_name=result.employee_name),
        terminal=NfcTerminal(id=ctx.id, name=ctx.name),
        replayed=result.replayed,
    )


_SCAN_ITEM = TypeAdapter(ScanIn)


def _refusal(index: int, error: BasisError) -> BatchItemResult:
    return BatchItemResult(
        index=index, http_status=error.status_code, ok=False, code=error.code, detail=error.detail
    )


async def scan_batch(pipeline: Pipeline, ctx: TerminalCtx, items: list[Any]) -> list[BatchItemResult]:
    """The offline buffer: each item on its own, applied in ts order, answered in request order."""
    results: dict[int, BatchItemResult] = {}
    queue: list[tuple[int, ScanRequest]] = []
    for index, raw in enumerate(items):
        try:
            payload = _SCAN_ITEM.validate_python(raw)
            check_terminal_id(ctx, payload.terminal_id)
            queue.append((index, scan_request(payload)))
        except ValidationError as error:
            count_refusal("validation_error")
            results[index] = BatchItemResult(
                index=index,
                http_status=422,
                ok=False,
                code="validation_error",
                detail=error.errors(include_url=False, include_context=False),
            )
        except BasisError as error:
            count_refusal(error.code)
            results[index] = _refusal(index, error)
    if not queue:
        await pipeline.confirm(ctx)  # nothing reaches the writer, which would check the terminal
    # Items without a device time get the server's: they are the newest.
    queue.sort(key=lambda item: (item[1].ts_ms is None, item[1].ts_ms or 0, item[0]))
    answers = await _ingest(pipeline, ctx, [Scan(ctx, req) for _, req in queue])
    for (index, _), answer in zip(queue, answers, strict=True):
        if isinstance(answer, BasisError):
            results[index] = _refusal(index, answer)
        else:
            results[index] = BatchItemResult(index=index, http_status=200, **answer.model_dump())
    return [results[i] for i in range(len(items))]


# ------------------------------------------------------------------------- signed scans


def _canonical_challenge(challenge_b64: str) -> bytes:
    try:
        raw = b64decode_any(challenge_b64)
    except ValueError:
        raise exc.invalid_challenge() from None
    if len(raw) != 32:
        raise exc.invalid_challenge()
    return raw


def _challenge_key(ctx: TerminalCtx, raw: bytes) -> str:
    return f"tt:challenge:{ctx.id}:{raw.hex()}"


async def issue_challenge(ctx: TerminalCtx, *, infra: Infra) -> ChallengeOut:
    raw = secrets.token_bytes(32)
    # The store expires it too; the deadline kept inside follows the one clock of Basis.
    deadline = to_ms(utcnow()) + CHALLENGE_TTL_SECONDS * 1000
    await infra.kv.set(_challenge_key(ctx, raw), str(deadline), CHALLENGE_TTL_SECONDS + 1)
    return ChallengeOut(
        challenge_b64=base64.urlsafe_b64encode(raw).decode(), expires_in=CHALLENGE_TTL_SECONDS
    )


def verify_signature(public_key_b64: str, challenge: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(b64decode_any(public_key_b64))
        signature = b64decode_any(signature_b64)
    except (ValueError, TypeError):
        return False
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


async def secure_scan(
    pipeline: Pipeline, session: AsyncSession, ctx: TerminalCtx, payload: SecureScanIn
) -> ScanResult:
    """Challenge, then the phone's signature of it, then the scan rules."""
    try:
        req, signed_key = await _signed_request(pipeline, session, ctx, payload)
    except BasisError as error:
        count_refusal(error.code)
        raise
    await session.rollback()  # the writer decides in a transaction of its own
    # The writer checks again, under the employee's lock, that this key is still the active one.
    return await _ingest_one(pipeline, ctx, Scan(ctx, req, signed_key=signed_key))


async def _signed_request(
    pipeline: Pipeline, session: AsyncSession, ctx: TerminalCtx, payload: SecureScanIn
) -> tuple[ScanRequest, str]:
    """The scan a verified signature vouches for, with the key that signed it."""
    check_terminal_id(ctx, payload.terminal_id)
    raw = _canonical_challenge(payload.challenge_b64)
    # Used up by this attempt whatever follows: a challenge is never good twice.
    deadline = await pipeline.infra.kv.pop(_challenge_key(ctx, raw))
    if deadline is None or to_ms(utcnow()) > int(deadline):
        raise exc.invalid_challenge()
    req = ScanRequest(
        uid=normalise_uid(payload.employee_uid),
        direction=normalise_direction(payload.direction),
        ts_ms=payload.ts,
        client_event_id=payload.client_event_id,
    )
    employee = (await session.execute(_EMPLOYEE_KEY.where(EMPLOYEES.c.nfc_uid == req.uid))).first()
    if employee is None:
        raise exc.unknown_card()
    if not employee[1]:
        raise exc.employee_inactive()
    if employee[2] != "active" or not employee[3]:
        raise exc.key_not_active()
    if not verify_signature(employee[3], raw, payload.signature_b64):
        raise exc.bad_signature()
    return req, employee[3]


# --------------------------------------------------------------------- enrollment, heartbeat


async def first_scan(session: AsyncSession, ctx: TerminalCtx, payload: FirstScanIn) -> FirstScanOut:
    """A phone offers its key: stored as pending until an admin approves it (no trust on first use)."""
    check_terminal_id(ctx, payload.terminal_id)
    uid = normalise_uid(payload.employee_uid)
    employee = await session.scalar(select(Employee).where(Employee.nfc_uid == uid))
    if employee is None:
        raise exc.unknown_card()
    if not employee.is_active:
        raise exc.employee_inactive()
    key = parse_public_key(payload.public_key_b64)
    if employee.key_status == "active":
        raise exc.key_already_active()
    before = {"key_status": employee.key_status}
    now = utcnow()
    employee.public_key = key
    employee.key_status = "pending"
    employee.key_submitted_at = now
    employee.updated_at = now
    audit(
        session,
        actor=None,
        action="key_submit",
        entity="employee",
        entity_id=employee.id,
        before=before,
        after={
            "key_status": "pending",
            "fingerprint": hashlib.sha256(base64.b64decode(key)).hexdigest(),
            "terminal_id": ctx.id,
        },
    )
    await touch(session, ctx, now)
    await session.commit()
    return FirstScanOut(employee_id=employee.id)


async def heartbeat(session: AsyncSession, ctx: TerminalCtx, *, settings: Settings) -> HeartbeatOut:
    now = utcnow()
    await touch(session, ctx, now)
    await session.commit()
    return HeartbeatOut(
        server_time=now,
        server_time_ms=to_ms(now),
        cooldown_seconds=settings.app(TimetrackerSettings).terminal_scan_cooldown_seconds,
        terminal_id=ctx.id,
        terminal_name=ctx.name,
        require_signature=ctx.require_signature,
    )
