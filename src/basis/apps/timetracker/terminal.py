"""The terminal protocol: who the terminal is, scans (R4-R8), batches, signed scans, phone key
enrollment and heartbeats. This is the hot path: Core statements, few round trips per scan.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.timetracker import engine
from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.models import Employee, Event, Terminal
from basis.apps.timetracker.schemas import (
    BatchItemResult,
    ChallengeOut,
    EventPublic,
    FirstScanIn,
    FirstScanOut,
    HeartbeatOut,
    ScanIn,
    ScanResult,
    SecureScanIn,
)
from basis.apps.timetracker.service import (
    PENDING_ID,
    apply_directions,
    audit,
    b64decode_any,
    hash_key,
    max_shift,
    normalise_direction,
    normalise_uid,
    parse_public_key,
)
from basis.core.errors import BasisError, TooManyRequests
from basis.core.infra import Infra
from basis.core.time import from_ms, to_ms, utcnow
from basis.settings import Settings

EVENTS = Event.__table__
TERMINALS = Terminal.__table__
EMPLOYEES = Employee.__table__
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
_EMPLOYEE_BY_UID = select(
    EMPLOYEES.c.id,
    EMPLOYEES.c.full_name,
    EMPLOYEES.c.is_active,
    EMPLOYEES.c.key_status,
    EMPLOYEES.c.public_key,
)
_EVENT_BY_CLIENT_ID = select(
    EVENTS.c.id,
    EVENTS.c.employee_id,
    EVENTS.c.ts,
    EVENTS.c.direction,
    EVENTS.c.request_hash,
    EMPLOYEES.c.full_name,
).join(EMPLOYEES, EMPLOYEES.c.id == EVENTS.c.employee_id)
_WINDOW = select(
    EVENTS.c.id,
    EVENTS.c.ts,
    EVENTS.c.direction,
    EVENTS.c.direction_source,
    EVENTS.c.terminal_id,
    EVENTS.c.client_event_id,
    EVENTS.c.request_hash,
)


@dataclass(slots=True)
class TerminalCtx:
    id: int
    name: str
    require_signature: bool
    last_seen_at: dt.datetime | None


@dataclass(slots=True)
class EmployeeRow:
    id: int
    full_name: str
    is_active: bool
    key_status: str
    public_key: str | None


# ------------------------------------------------------------------------- authentication


async def authenticate(
    session: AsyncSession, key: str | None, *, infra: Infra, settings: Settings
) -> TerminalCtx:
    """R7: the terminal is the one whose key came with the request; then its rate limit."""
    if not key:
        raise exc.unknown_terminal()
    row = (await session.execute(_TERMINAL_BY_KEY.where(TERMINALS.c.key_hash == hash_key(key)))).first()
    if row is None:
        raise exc.unknown_terminal()
    if not row[2]:
        raise exc.terminal_inactive()
    limit = await infra.limiter.hit(settings.timetracker_terminal_rate_limit, "tt-terminal", str(row[0]))
    if not limit.allowed:
        raise TooManyRequests(
            "Too many calls from this terminal", retry_after=limit.retry_after, extra={"ok": False}
        )
    return TerminalCtx(id=row[0], name=row[1], require_signature=row[3], last_seen_at=row[4])


def check_terminal_id(ctx: TerminalCtx, claimed: int | None) -> None:
    if claimed is not None and claimed != ctx.id:
        raise exc.terminal_mismatch()


async def touch(session: AsyncSession, ctx: TerminalCtx, now: dt.datetime) -> None:
    """``last_seen_at`` at most once a minute per terminal, never a write per scan."""
    if ctx.last_seen_at is not None and now - ctx.last_seen_at < LAST_SEEN_EVERY:
        return
    await session.execute(
        update(TERMINALS)
        .where(
            TERMINALS.c.id == ctx.id,
            or_(TERMINALS.c.last_seen_at.is_(None), TERMINALS.c.last_seen_at < now - LAST_SEEN_EVERY),
        )
        .values(last_seen_at=now)
    )
    ctx.last_seen_at = now


async def touch_alone(session: AsyncSession, ctx: TerminalCtx, now: dt.datetime) -> None:
    """``touch`` in a transaction of its own, after a scan committed.

    Inside the scan's transaction it would deadlock on MariaDB: inserting an event takes a
    shared lock on its terminal row (the foreign key), and two scans of one terminal would
    each wait for the other's to upgrade it.
    """
    if ctx.last_seen_at is not None and now - ctx.last_seen_at < LAST_SEEN_EVERY:
        return
    await touch(session, ctx, now)
    await session.commit()


# ---------------------------------------------------------------------------------- scans


@dataclass(slots=True)
class ScanRequest:
    uid: str
    direction: str | None
    ts_ms: int | None
    client_event_id: str | None

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.uid}|{self.ts_ms}|{self.direction}".encode()).hexdigest()


def _idempotency_key(ctx: TerminalCtx, client_event_id: str) -> str:
    digest = hashlib.sha256(client_event_id.encode()).hexdigest()[:32]
    return f"tt:idem:{ctx.id}:{digest}"


def _result(
    status: str,
    event_id: int,
    employee_id: int,
    name: str,
    direction: str,
    ts: dt.datetime,
    message: str,
    replayed: bool | None = None,
) -> ScanResult:
    return ScanResult(
        status=status,
        message=message,
        event_id=event_id,
        employee_id=employee_id,
        employee_name=name,
        direction=direction,
        ts=to_ms(ts),
        ts_utc=ts,
        replayed=replayed,
    )


async def _stored_replay(session: AsyncSession, ctx: TerminalCtx, req: ScanRequest) -> ScanResult | None:
    """R6: the original answer of an accepted scan with this client_event_id, 409 for another payload."""
    assert req.client_event_id is not None
    row = (
        await session.execute(
            _EVENT_BY_CLIENT_ID.where(
                EVENTS.c.terminal_id == ctx.id, EVENTS.c.client_event_id == req.client_event_id
            )
        )
    ).first()
    if row is None:
        return None
    if row[4] is not None and row[4] != req.fingerprint:
        raise exc.idempotency_conflict()
    return _result("accepted", row[0], row[1], row[5], row[3], row[2], "Scan accepted", True)


async def _kv_replay(ctx: TerminalCtx, req: ScanRequest, infra: Infra) -> ScanResult | None:
    """R6 for scans answered ``duplicate``: nothing was stored, the answer was kept."""
    assert req.client_event_id is not None
    stored = await infra.kv.get(_idempotency_key(ctx, req.client_event_id))
    if stored is None:
        return None
    data = json.loads(stored)
    if data["h"] != req.fingerprint:
        raise exc.idempotency_conflict()
    result = ScanResult.model_validate(data["r"])
    result.replayed = True
    return result


async def _replay_instead(session: AsyncSession, ctx: TerminalCtx, req: ScanRequest) -> ScanResult | None:
    """The stored answer for this client_event_id, looked up in a transaction of its own."""
    if req.client_event_id is None:
        return None
    await session.rollback()
    try:
        return await _stored_replay(session, ctx, req)
    finally:
        await session.rollback()


async def _employee_by_uid(session: AsyncSession, uid: str) -> EmployeeRow:
    """The card's employee, its row locked to the end of the transaction (R8).

    Every scan of one employee reads and then writes that employee's events (cooldown,
    direction, insert), so two taps at two doors, even in two processes, must take turns.
    PostgreSQL and MariaDB: FOR UPDATE on the employee row (read with the same statement);
    SQLite: BEGIN IMMEDIATE already made this transaction the only writer.
    """
    row = (
        await session.execute(_EMPLOYEE_BY_UID.where(EMPLOYEES.c.nfc_uid == uid).with_for_update())
    ).first()
    if row is None:
        raise exc.unknown_card()
    if not row[2]:
        raise exc.employee_inactive()
    return EmployeeRow(*row)


def _scan_instant(req: ScanRequest, now: dt.datetime, settings: Settings) -> dt.datetime:
    """R5: device time is trusted within [now - max age, now + max skew]."""
    if req.ts_ms is None:
        return now
    ts = from_ms(req.ts_ms)
    oldest = now - dt.timedelta(days=settings.timetracker_max_scan_age_days)
    newest = now + dt.timedelta(seconds=settings.timetracker_max_clock_skew_seconds)
    if ts < oldest:
        raise exc.clock_skew(
            f"The scan time {ts.isoformat()} is older than {settings.timetracker_max_scan_age_days} days; "
            "enter it as a manual event"
        )
    if ts > newest:
        raise exc.clock_skew(
            f"The scan time {ts.isoformat()} is ahead of the server's clock ({now.isoformat()}) by more "
            f"than {settings.timetracker_max_clock_skew_seconds} s; correct the terminal's clock"
        )
    return ts


def _event_message(
    event_id: int, employee: EmployeeRow, ctx: TerminalCtx, values: dict[str, Any]
) -> dict[str, Any]:
    event = EventPublic(
        id=event_id,
        employee_id=employee.id,
        terminal_id=ctx.id,
        ts=values["ts"],
        received_at=values["received_at"],
        direction=values["direction"],
        direction_source=values["direction_source"],
        is_manual=False,
        comment=None,
        created_by=None,
        client_event_id=values["client_event_id"],
        deleted_at=None,
    )
    return {
        "type": "scan",
        "event": {**event.model_dump(mode="json"), "terminal_name": ctx.name},
        "employee": {"id": employee.id, "full_name": employee.full_name},
    }


async def ingest(
    session: AsyncSession,
    ctx: TerminalCtx,
    req: ScanRequest,
    *,
    settings: Settings,
    infra: Infra,
    signed: bool = False,
    employee: EmployeeRow | None = None,
) -> ScanResult:
    """One scan, all or nothing: R4-R8, then the live feed. Commits; raises on a refusal."""
    now = utcnow()
    if req.client_event_id is not None:
        kept = await _kv_replay(ctx, req, infra)
        if kept is not None:
            return kept
    try:
        if employee is None:
            employee = await _employee_by_uid(session, req.uid)
        if ctx.require_signature and not signed and employee.key_status == "active":
            raise exc.signature_required()
        ts = _scan_instant(req, now, settings)
    except BasisError:
        # A retry of a scan accepted before gets its answer even if it would be refused now
        # (the employee left since, the 7 days passed): this lookup costs only on refusals.
        replay = await _replay_instead(session, ctx, req)
        if replay is not None:
            return replay
        raise
    shift = max_shift(settings)
    cooldown = dt.timedelta(seconds=settings.timetracker_terminal_scan_cooldown_seconds)

    rows = (
        await session.execute(
            _WINDOW.where(
                EVENTS.c.employee_id == employee.id,
                EVENTS.c.ts >= ts - max(shift, cooldown),
                EVENTS.c.deleted_at.is_(None),
            ).order_by(EVENTS.c.ts, EVENTS.c.id)
        )
    ).all()
    if req.client_event_id is not None:
        # R6, the usual retry: the original event is among the ones just read.
        for row in rows:
            if row[4] == ctx.id and row[5] == req.client_event_id:
                if row[6] is not None and row[6] != req.fingerprint:
                    raise exc.idempotency_conflict()
                await session.rollback()
                return _result(
                    "accepted", row[0], employee.id, employee.full_name, row[2], row[1], "Scan accepted", True
                )

    # R4: the nearest accepted scan closer than the cooldown, on either side in ts order.
    nearest = None
    for row in rows:
        gap = abs(row[1] - ts)
        if gap < cooldown and (nearest is None or gap < abs(nearest[1] - ts)):
            nearest = row
    if nearest is not None:
        if req.client_event_id is not None:
            # A retry whose original lies outside the window read, or another payload.
            replay = await _stored_replay(session, ctx, req)
            if replay is not None:
                await session.rollback()
                return replay
        await session.commit()
        await touch_alone(session, ctx, now)
        result = _result(
            "duplicate",
            nearest[0],
            employee.id,
            employee.full_name,
            nearest[2],
            nearest[1],
            f"Duplicate scan ignored: within {cooldown.seconds} s of event {nearest[0]}",
        )
        if req.client_event_id is not None:
            await infra.kv.set(
                _idempotency_key(ctx, req.client_event_id),
                json.dumps({"h": req.fingerprint, "r": result.model_dump(mode="json")}),
                IDEMPOTENCY_TTL_SECONDS,
            )
        return result

    # R2: the direction from the scan's place among the employee's events; later derived
    # directions are re-derived when this scan lands before them.
    stored = [engine.EventIn(r[0], r[1], r[2], r[3]) for r in rows]
    source = "device" if req.direction is not None else "derived"
    pending = engine.EventIn(PENDING_ID, ts, req.direction, source)  # type: ignore[arg-type]
    derived = engine.derive_directions([*stored, pending], shift, trust_stored_before=ts)
    direction = next(d for event_id, d in derived if event_id == PENDING_ID)

    values = {
        "employee_id": employee.id,
        "terminal_id": ctx.id,
        "ts": ts,
        "received_at": now,
        "direction": direction,
        "direction_source": source,
        "is_manual": False,
        "client_event_id": req.client_event_id,
        "request_hash": req.fingerprint if req.client_event_id is not None else None,
    }
    try:
        inserted = await session.execute(insert(EVENTS).values(**values))
        event_id = inserted.inserted_primary_key[0]
        await apply_directions(session, stored, derived)
        await session.commit()
    except IntegrityError:
        # Only (terminal_id, client_event_id) is unique: the same id, already stored.
        replay = await _replay_instead(session, ctx, req)
        if replay is None:
            raise
        return replay

    await touch_alone(session, ctx, now)
    await infra.hub.publish(SCAN_TOPIC, _event_message(event_id, employee, ctx, values))
    return _result("accepted", event_id, employee.id, employee.full_name, direction, ts, "Scan accepted")


def scan_request(payload: ScanIn) -> ScanRequest:
    return ScanRequest(
        uid=normalise_uid(payload.uid),
        direction=normalise_direction(payload.direction),
        ts_ms=payload.ts,
        client_event_id=payload.client_event_id,
    )


async def scan(
    session: AsyncSession, ctx: TerminalCtx, payload: ScanIn, *, settings: Settings, infra: Infra
) -> ScanResult:
    check_terminal_id(ctx, payload.terminal_id)
    return await ingest(session, ctx, scan_request(payload), settings=settings, infra=infra)


_SCAN_ITEM = TypeAdapter(ScanIn)


def _refusal(index: int, error: BasisError) -> BatchItemResult:
    return BatchItemResult(
        index=index, http_status=error.status_code, ok=False, code=error.code, detail=error.detail
    )


async def scan_batch(
    session: AsyncSession, ctx: TerminalCtx, items: list[Any], *, settings: Settings, infra: Infra
) -> list[BatchItemResult]:
    """The offline buffer: each item on its own, applied in ts order, answered in request order."""
    results: dict[int, BatchItemResult] = {}
    queue: list[tuple[int, ScanRequest]] = []
    for index, raw in enumerate(items):
        try:
            payload = _SCAN_ITEM.validate_python(raw)
            check_terminal_id(ctx, payload.terminal_id)
            queue.append((index, scan_request(payload)))
        except ValidationError as error:
            results[index] = BatchItemResult(
                index=index,
                http_status=422,
                ok=False,
                code="validation_error",
                detail=error.errors(include_url=False, include_context=False),
            )
        except BasisError as error:
            results[index] = _refusal(index, error)
    # Items without a device time get the server's: they are the newest.
    queue.sort(key=lambda item: (item[1].ts_ms is None, item[1].ts_ms or 0, item[0]))
    for index, req in queue:
        try:
            answer = await ingest(session, ctx, req, settings=settings, infra=infra)
        except BasisError as error:
            await session.rollback()
            results[index] = _refusal(index, error)
            continue
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
    session: AsyncSession, ctx: TerminalCtx, payload: SecureScanIn, *, settings: Settings, infra: Infra
) -> ScanResult:
    """Challenge, then the phone's signature of it, then the scan rules."""
    check_terminal_id(ctx, payload.terminal_id)
    raw = _canonical_challenge(payload.challenge_b64)
    # Used up by this attempt whatever follows: a challenge is never good twice.
    deadline = await infra.kv.pop(_challenge_key(ctx, raw))
    if deadline is None or to_ms(utcnow()) > int(deadline):
        raise exc.invalid_challenge()
    req = ScanRequest(
        uid=normalise_uid(payload.employee_uid),
        direction=normalise_direction(payload.direction),
        ts_ms=payload.ts,
        client_event_id=payload.client_event_id,
    )
    employee = await _employee_by_uid(session, req.uid)
    if employee.key_status != "active" or not employee.public_key:
        raise exc.key_not_active()
    if not verify_signature(employee.public_key, raw, payload.signature_b64):
        raise exc.bad_signature()
    return await ingest(session, ctx, req, settings=settings, infra=infra, signed=True, employee=employee)


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
        cooldown_seconds=settings.timetracker_terminal_scan_cooldown_seconds,
        terminal_id=ctx.id,
        terminal_name=ctx.name,
        require_signature=ctx.require_signature,
    )
