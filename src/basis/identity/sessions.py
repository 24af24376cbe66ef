"""Sessions: a refresh-token family per signed-in device, its rotation, reuse detection and
revocation. Revoking a family ends it in the database, the record every process checks, and
its commit tells every process (``basis.identity.revocation``), so the access tokens it issued
stop working everywhere before they expire.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import Unauthorized
from basis.core.logging import get_logger
from basis.core.time import utcnow
from basis.identity import ratelimits, revocation
from basis.identity.events import Meta, audit
from basis.identity.models import RefreshToken, User
from basis.identity.tokens import TokenCodec, digest, new_secret, new_session_id

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings

log = get_logger("basis.identity")


@dataclass(frozen=True, slots=True)
class IssuedSession:
    user: User
    access_token: str
    expires_in: int
    refresh_token: str
    sid: str


def codec(settings: Settings) -> TokenCodec:
    return TokenCodec(
        settings.signing_secrets,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_minutes=settings.access_token_minutes,
    )


def invalid_refresh() -> Unauthorized:
    return Unauthorized("Invalid or expired refresh token", code="invalid_token")


async def start_session(
    *, session: AsyncSession, settings: Settings, user: User, meta: Meta, device: str | None = None
) -> IssuedSession:
    """A new refresh-token family and its first access token; the caller commits."""
    meta = meta.clipped()
    now = utcnow()
    sid = new_session_id()
    raw = new_secret()
    absolute = now + dt.timedelta(days=settings.session_absolute_days)
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=digest(raw),
            family_id=sid,
            device=(device or meta.device or None) and (device or meta.device or "")[:100],
            user_agent=meta.user_agent,
            ip=meta.ip,
            session_started_at=now,
            issued_at=now,
            last_used_at=now,
            expires_at=min(now + dt.timedelta(days=settings.refresh_token_days), absolute),
            absolute_expires_at=absolute,
            is_revoked=False,
        )
    )
    token = codec(settings).issue_access(user_id=user.id, sid=sid, role=user.role, now=now)
    return IssuedSession(user, token, settings.access_token_minutes * 60, raw, sid)


async def revoke_families(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    user_id: int | None = None,
    family_ids: list[str] | None = None,
    except_family: str | None = None,
    reason: str,
) -> list[str]:
    """Ends sessions: their refresh tokens in the database, their access tokens in every process."""
    families = set(family_ids or [])
    if user_id is not None:
        stmt = select(RefreshToken.family_id).where(
            RefreshToken.user_id == user_id, RefreshToken.is_revoked.is_(False)
        )
        families.update((await session.execute(stmt.distinct())).scalars())
    families.discard(except_family)  # type: ignore[arg-type]
    if not families:
        return []
    revocation.revoke_sessions(session, families)
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id.in_(families), RefreshToken.is_revoked.is_(False))
        .values(is_revoked=True, revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return sorted(families)


async def refresh_session(
    *, session: AsyncSession, settings: Settings, infra: Infra, raw_token: str, meta: Meta
) -> IssuedSession:
    meta = meta.clipped()
    row = (
        await session.execute(select(RefreshToken).where(RefreshToken.token_hash == digest(raw_token)))
    ).scalar_one_or_none()
    if row is None:
        raise invalid_refresh()
    await ratelimits.enforce(infra.limiter, settings.refresh_limit_session, "refresh", row.family_id)
    family, user_id = row.family_id, row.user_id
    if row.is_revoked:
        await _reuse_detected(
            session=session,
            settings=settings,
            infra=infra,
            family=family,
            user_id=user_id,
            state=row.revoked_reason or "revoked",
            meta=meta,
        )
    now = utcnow()
    if now >= row.expires_at or now >= row.absolute_expires_at:
        raise invalid_refresh()
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise invalid_refresh()
    # Of two concurrent refreshes with one token, only one sees is_revoked still false here.
    rotated = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.is_revoked.is_(False))
        .values(is_revoked=True, revoked_at=now, revoked_reason="rotated", last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    if rotated.rowcount != 1:
        await session.rollback()
        await _reuse_detected(
            session=session,
            settings=settings,
            infra=infra,
            family=family,
            user_id=user_id,
            state="rotated_concurrently",
            meta=meta,
        )
    raw = new_secret()
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=digest(raw),
            family_id=row.family_id,
            parent_id=row.id,
            device=row.device,
            user_agent=meta.user_agent or row.user_agent,
            ip=meta.ip or row.ip,
            session_started_at=row.session_started_at,
            issued_at=now,
            last_used_at=now,
            expires_at=min(now + dt.timedelta(days=settings.refresh_token_days), row.absolute_expires_at),
            absolute_expires_at=row.absolute_expires_at,
            is_revoked=False,
        )
    )
    audit(session, "refresh", success=True, meta=meta, user_id=user.id, details={"sid": row.family_id})
    await session.commit()
    token = codec(settings).issue_access(user_id=user.id, sid=row.family_id, role=user.role, now=now)
    return IssuedSession(user, token, settings.access_token_minutes * 60, raw, row.family_id)


async def _reuse_detected(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    family: str,
    user_id: int,
    state: str,
    meta: Meta,
) -> None:
    await revoke_families(
        session=session, settings=settings, infra=infra, family_ids=[family], reason="reuse_detected"
    )
    audit(
        session,
        "refresh_reuse_detected",
        success=False,
        meta=meta,
        user_id=user_id,
        details={"sid": family, "token_state": state},
    )
    await session.commit()
    log.warning("refresh_reuse_detected", user_id=user_id, sid=family)
    raise invalid_refresh()


async def family_of_refresh_token(session: AsyncSession, raw_token: str) -> RefreshToken | None:
    stmt = select(RefreshToken).where(RefreshToken.token_hash == digest(raw_token))
    return (await session.execute(stmt)).scalar_one_or_none()


async def logout(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    user_id: int,
    sid: str,
    meta: Meta,
) -> None:
    await revoke_families(session=session, settings=settings, infra=infra, family_ids=[sid], reason="logout")
    audit(session, "logout", success=True, meta=meta, user_id=user_id, details={"sid": sid})
    await session.commit()


async def logout_all(
    *, session: AsyncSession, settings: Settings, infra: Infra, user: User, sid: str | None, meta: Meta
) -> int:
    families = await revoke_families(
        session=session, settings=settings, infra=infra, user_id=user.id, reason="logout_all"
    )
    audit(
        session, "logout_all", success=True, meta=meta, user_id=user.id, details={"sessions": len(families)}
    )
    await session.commit()
    return len(families)


async def list_sessions(*, session: AsyncSession, user: User) -> list[RefreshToken]:
    now = utcnow()
    stmt = (
        select(RefreshToken)
        .where(
            RefreshToken.user_id == user.id,
            RefreshToken.is_revoked.is_(False),
            RefreshToken.expires_at > now,
            RefreshToken.absolute_expires_at > now,
        )
        .order_by(RefreshToken.last_used_at.desc(), RefreshToken.id.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def revoke_session(
    *, session: AsyncSession, settings: Settings, infra: Infra, user: User, sid: str, meta: Meta, actor: User
) -> bool:
    exists = await session.execute(
        select(RefreshToken.id)
        .where(
            RefreshToken.user_id == user.id, RefreshToken.family_id == sid, RefreshToken.is_revoked.is_(False)
        )
        .limit(1)
    )
    if exists.first() is None:
        return False
    await revoke_families(session=session, settings=settings, infra=infra, family_ids=[sid], reason="revoked")
    audit(
        session,
        "session_revoked",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"sid": sid, "by": actor.id},
    )
    await session.commit()
    return True


async def revoke_all_sessions(
    *, session: AsyncSession, settings: Settings, infra: Infra, user: User, meta: Meta, actor: User | None
) -> int:
    families = await revoke_families(
        session=session, settings=settings, infra=infra, user_id=user.id, reason="revoked"
    )
    audit(
        session,
        "session_revoked",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"all": True, "sessions": len(families), "by": actor.id if actor else None},
    )
    await session.commit()
    return len(families)
