"""Identity services: login, sessions, registration, passwords, audit, user administration.

Plain async functions with keyword-only arguments; they never see FastAPI. Each one commits
what it changed. Errors are ``basis.core.errors`` classes with the codes of identity.md.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized, Unprocessable
from basis.core.logging import get_logger
from basis.core.time import utcnow
from basis.identity import ratelimits, revocation
from basis.identity.models import AuthEvent, PasswordResetToken, RefreshToken, User
from basis.identity.passwords import burn_verify, hash_password, policy_problem, verify_password
from basis.identity.schemas import MeUpdate, RegisterRequest, UserCreate, UserUpdate
from basis.identity.tokens import TokenCodec, digest, new_secret, new_session_id

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings

log = get_logger("basis.identity")

EVENT_TYPES = (
    "register",
    "login_success",
    "login_failure",
    "login_rate_limited",
    "refresh",
    "refresh_reuse_detected",
    "logout",
    "logout_all",
    "password_changed",
    "password_reset_requested",
    "password_reset_completed",
    "role_changed",
    "user_deactivated",
    "session_revoked",
)
RESET_ACCEPTED = "If an account with this email exists, a password reset link has been sent."
ADMIN_PANEL_DEVICE = "admin-panel"
ADMIN_PANEL_HOURS = 12


# --------------------------------------------------------------------------- context


@dataclass(frozen=True, slots=True)
class Meta:
    """Where a call comes from, for sessions and the audit trail."""

    ip: str | None = None
    user_agent: str | None = None
    device: str | None = None

    def clipped(self) -> Meta:
        return Meta(
            ip=(self.ip or None) and self.ip[:64],
            user_agent=(self.user_agent or None) and self.user_agent[:500],
            device=(self.device or None) and self.device[:100],
        )


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


def invalid_credentials() -> Unauthorized:
    return Unauthorized("Invalid credentials", code="invalid_credentials")


def invalid_refresh() -> Unauthorized:
    return Unauthorized("Invalid or expired refresh token", code="invalid_token")


def normalise_identifier(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lower()


# --------------------------------------------------------------------------- audit


def audit(
    session: AsyncSession,
    event_type: str,
    *,
    success: bool,
    meta: Meta,
    user_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Adds an event to the session; it is written with the caller's commit."""
    assert event_type in EVENT_TYPES, event_type
    meta = meta.clipped()
    session.add(
        AuthEvent(
            user_id=user_id,
            event_type=event_type,
            success=success,
            ip=meta.ip,
            user_agent=meta.user_agent,
            details=details or None,
        )
    )


# --------------------------------------------------------------------------- users


async def get_user_by_identifier(session: AsyncSession, identifier: str) -> User | None:
    key = normalise_identifier(identifier)
    if not key:
        return None
    stmt = select(User).where(or_(User.email == key, User.username_key == key)).limit(1)
    return (await session.execute(stmt)).scalars().first()


async def _ensure_unique(
    session: AsyncSession, *, email: str | None, username: str | None, exclude_id: int | None = None
) -> None:
    conditions = []
    if email:
        conditions += [User.email == email.lower(), User.username_key == email.lower()]
    if username:
        conditions += [User.username_key == username.lower(), User.email == username.lower()]
    if not conditions:
        return
    stmt = select(User.id).where(or_(*conditions))
    if exclude_id is not None:
        stmt = stmt.where(User.id != exclude_id)
    if (await session.execute(stmt.limit(1))).first() is not None:
        raise account_exists()


def account_exists() -> Conflict:
    return Conflict("An account with this email or username already exists", code="account_exists")


def _check_context(password: str, *, email: str | None, username: str | None, field: str) -> None:
    problem = policy_problem(password, context=(email, username))
    if problem:
        raise Unprocessable(
            [{"loc": ["body", field], "msg": problem, "type": "weak_password"}], code="validation_error"
        )


async def new_user(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str | None,
    username: str | None,
    password: str,
    role: str,
    full_name: str | None = None,
    phone: str | None = None,
) -> User:
    """Checks uniqueness and the password against the account's own names; flushes, no commit."""
    email = email.lower() if email else None
    _check_context(password, email=email, username=username, field="password")
    await _ensure_unique(session, email=email, username=username)
    now = utcnow()
    user = User(
        email=email,
        username=username,
        username_key=username.lower() if username else None,
        full_name=full_name,
        phone=phone,
        role=role,
        is_active=True,
        password_hash=await hash_password(password, profile=settings.password_hash_profile),
        password_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise account_exists() from None
    return user


async def _commit_unique(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise account_exists() from None


# --------------------------------------------------------------------------- sessions


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


# --------------------------------------------------------------------------- login


async def _rate_limited(
    session: AsyncSession, meta: Meta, user_id: int | None, retry_after: int, channel: str
) -> None:
    audit(
        session,
        "login_rate_limited",
        success=False,
        meta=meta,
        user_id=user_id,
        details={"channel": channel, "retry_after": retry_after},
    )
    await session.commit()
    raise TooManyRequests("Too many login attempts; try again later", retry_after=retry_after)


async def verify_credentials(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    identifier: str,
    password: str,
    meta: Meta,
    channel: str = "api",
    required_role: str | None = None,
) -> User:
    """The active user these credentials belong to, or ``invalid_credentials`` / 429.

    Unknown account, wrong password, inactive account (and, for the admin panel, a role that is
    not enough) fail the same way and take about the same time: a password is always verified
    against some hash.
    """
    meta = meta.clipped()
    key = normalise_identifier(identifier)
    limits = ratelimits.LoginLimits(infra.limiter, settings, ip=meta.ip or "unknown", identifier=key)
    wait = await limits.take_attempt()
    user = await get_user_by_identifier(session, key)
    user_id = user.id if user else None
    if wait is not None:
        await _rate_limited(session, meta, user_id, wait, channel)
    account = ratelimits.account_key(user_id, key)
    wait = await limits.ceiling_wait(account)
    if wait is not None:
        await _rate_limited(session, meta, user_id, wait, channel)

    profile = settings.password_hash_profile
    reason: str | None = None
    new_hash: str | None = None
    if user is None:
        await burn_verify(password, profile=profile)
        reason = "unknown_account"
    else:
        valid, new_hash = await verify_password(password, user.password_hash, profile=profile)
        if not valid:
            reason = "wrong_password"
        elif not user.is_active:
            reason = "inactive"
        elif required_role is not None and user.role != required_role:
            reason = "role_not_allowed"
    if reason is not None:
        await limits.failed(account)
        audit(
            session,
            "login_failure",
            success=False,
            meta=meta,
            user_id=user_id,
            details={"reason": reason, "channel": channel},
        )
        await session.commit()
        raise invalid_credentials()
    assert user is not None
    await limits.succeeded()
    if new_hash:
        user.password_hash = new_hash
    return user


async def authenticate_login(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    identifier: str,
    password: str,
    meta: Meta,
    channel: str = "api",
) -> IssuedSession:
    """Check credentials (rate limits, audit) and open a session: the login of every client."""
    user = await verify_credentials(
        session=session,
        settings=settings,
        infra=infra,
        identifier=identifier,
        password=password,
        meta=meta,
        channel=channel,
    )
    issued = await start_session(session=session, settings=settings, user=user, meta=meta)
    audit(
        session,
        "login_success",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"sid": issued.sid, "channel": channel},
    )
    await session.commit()
    return issued


async def admin_panel_login(
    *, session: AsyncSession, settings: Settings, infra: Infra, identifier: str, password: str, meta: Meta
) -> tuple[int, str]:
    """The admin panel's login: an admin's credentials; returns the user id and panel session id."""
    user = await verify_credentials(
        session=session,
        settings=settings,
        infra=infra,
        identifier=identifier,
        password=password,
        meta=meta,
        channel="admin",
        required_role="admin",
    )
    now = utcnow()
    sid = new_session_id()
    meta = meta.clipped()
    ends = now + dt.timedelta(hours=ADMIN_PANEL_HOURS)
    session.add(
        RefreshToken(
            user_id=user.id,
            # No refresh token is ever handed out for a panel session: this hash matches nothing.
            token_hash=digest(new_secret()),
            family_id=sid,
            device=ADMIN_PANEL_DEVICE,
            user_agent=meta.user_agent,
            ip=meta.ip,
            session_started_at=now,
            issued_at=now,
            last_used_at=now,
            expires_at=ends,
            absolute_expires_at=ends,
            is_revoked=False,
        )
    )
    user_id = user.id
    audit(
        session,
        "login_success",
        success=True,
        meta=meta,
        user_id=user_id,
        details={"sid": sid, "channel": "admin"},
    )
    await session.commit()
    return user_id, sid


async def admin_panel_user(*, session: AsyncSession, user_id: int, sid: str) -> User | None:
    """The admin behind a panel session, read fresh: role, activity and session all still valid."""
    now = utcnow()
    stmt = (
        select(User)
        .join(RefreshToken, RefreshToken.user_id == User.id)
        .where(
            User.id == user_id,
            User.is_active.is_(True),
            User.role == "admin",
            RefreshToken.family_id == sid,
            RefreshToken.is_revoked.is_(False),
            RefreshToken.expires_at > now,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


# --------------------------------------------------------------------------- registration and profile


async def register(
    *, session: AsyncSession, settings: Settings, infra: Infra, data: RegisterRequest, meta: Meta
) -> IssuedSession:
    if settings.registration != "open":
        raise Forbidden("Registration is closed", code="registration_closed")
    await ratelimits.enforce(
        infra.limiter,
        settings.register_limit_ip,
        "register",
        meta.ip or "unknown",
        detail="Too many registrations; try again later",
    )
    user = await new_user(
        session,
        settings,
        email=data.email,
        username=data.username,
        password=data.password,
        role="user",
        full_name=data.full_name,
        phone=data.phone,
    )
    issued = await start_session(session=session, settings=settings, user=user, meta=meta, device=data.device)
    audit(session, "register", success=True, meta=meta, user_id=user.id, details={"sid": issued.sid})
    await _commit_unique(session)
    return issued


async def update_me(
    *, session: AsyncSession, settings: Settings, infra: Infra, user: User, data: MeUpdate, meta: Meta
) -> User:
    fields = data.model_fields_set
    new_email = data.email.lower() if data.email is not None else None
    if new_email is not None and new_email != user.email:
        # Changing the login name needs the password again (re-authentication), checked before
        # anything else changes so a refused attempt leaves the profile as it was.
        await check_current_password(
            session=session,
            settings=settings,
            infra=infra,
            user=user,
            password=data.current_password,
            meta=meta,
            event_type="login_failure",
        )
        await _ensure_unique(session, email=new_email, username=None, exclude_id=user.id)
        user.email = new_email
    if "full_name" in fields:
        user.full_name = data.full_name
    if "phone" in fields:
        user.phone = data.phone
    user.updated_at = utcnow()
    await _commit_unique(session)
    return user


# --------------------------------------------------------------------------- passwords


async def _set_password(session: AsyncSession, settings: Settings, user: User, password: str) -> None:
    user.password_hash = await hash_password(password, profile=settings.password_hash_profile)
    user.password_changed_at = utcnow()
    user.updated_at = user.password_changed_at
    # Any reset link still out there would undo this change.
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    )


async def check_current_password(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    user: User,
    password: str | None,
    meta: Meta,
    event_type: str,
) -> None:
    """Re-authentication for a sensitive change, limited like a login: a stolen access token
    must not become an unlimited password-guessing oracle."""
    ip = (meta.ip or "unknown")[:64]
    wait = await ratelimits.password_check_wait(infra.limiter, settings, ip, user.id)
    if wait is not None:
        raise TooManyRequests("Too many attempts; try again later", retry_after=wait)
    if not password:
        raise BadRequest("Current password is wrong or missing", code="invalid_credentials")
    valid, _ = await verify_password(password, user.password_hash, profile=settings.password_hash_profile)
    if valid:
        return
    await ratelimits.password_check_failed(infra.limiter, settings, ip, user.id)
    audit(
        session,
        event_type,
        success=False,
        meta=meta,
        user_id=user.id,
        details={"reason": "wrong_current_password"},
    )
    await session.commit()
    raise BadRequest("Current password is wrong", code="invalid_credentials")


async def change_password(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    user: User,
    sid: str,
    current_password: str,
    new_password: str,
    meta: Meta,
) -> None:
    await check_current_password(
        session=session,
        settings=settings,
        infra=infra,
        user=user,
        password=current_password,
        meta=meta,
        event_type="password_changed",
    )
    _check_context(new_password, email=user.email, username=user.username, field="new_password")
    await _set_password(session, settings, user, new_password)
    revoked = await revoke_families(
        session=session,
        settings=settings,
        infra=infra,
        user_id=user.id,
        except_family=sid,
        reason="password_changed",
    )
    audit(
        session,
        "password_changed",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"sessions_revoked": len(revoked)},
    )
    await session.commit()


async def request_password_reset(
    *, session: AsyncSession, settings: Settings, infra: Infra, email: str, meta: Meta
) -> None:
    """Always the same outcome for the caller; a mail goes out only for an active account."""
    meta = meta.clipped()
    await ratelimits.enforce(
        infra.limiter,
        settings.reset_request_limit_ip,
        "reset-request-ip",
        meta.ip or "unknown",
        detail="Too many reset requests; try again later",
    )
    email = email.strip().lower()
    # Over the per-address limit the caller still gets 202, only no mail goes out.
    mail_allowed = await ratelimits.allowed(
        infra.limiter, settings.reset_request_limit_email, "reset-request-email", email
    )
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    if user is None or not user.is_active or not mail_allowed:
        audit(
            session,
            "password_reset_requested",
            success=False,
            meta=meta,
            user_id=user.id if user else None,
            details={"reason": "rate_limited" if user and not mail_allowed else "no_active_account"},
        )
        await session.commit()
        return
    now = utcnow()
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    raw = new_secret()
    token = PasswordResetToken(
        token=digest(raw),
        expires_at=now + dt.timedelta(minutes=settings.password_reset_minutes),
        used=False,
        created_at=now,
        user_id=user.id,
    )
    session.add(token)
    audit(session, "password_reset_requested", success=True, meta=meta, user_id=user.id)
    await session.commit()
    await send_reset_mail(
        infra=infra, settings=settings, to=user.email or email, raw_token=raw, token_id=token.id
    )


def reset_link(settings: Settings, raw_token: str) -> str:
    # The configured public URL, never the request's Host header (poisoned reset links).
    return f"{settings.public_url.rstrip('/')}/reset-password#token={raw_token}"


def reset_mail(settings: Settings, raw_token: str) -> tuple[str, str]:
    minutes = settings.password_reset_minutes
    text = (
        "Someone (hopefully you) asked to reset the password of your Basis account.\n\n"
        f"Open this link within {minutes} minutes to choose a new password:\n"
        f"{reset_link(settings, raw_token)}\n\n"
        f"Or enter this code in the app: {raw_token}\n\n"
        "The link works once. If you did not ask for it, ignore this mail: your password stays as it is.\n"
    )
    return "Reset your password", text


async def send_reset_mail(
    *, infra: Infra, settings: Settings, to: str, raw_token: str, token_id: int
) -> None:
    from basis.identity.jobs import SEND_MAIL, seal

    subject, text = reset_mail(settings, raw_token)
    await infra.jobs.enqueue(
        SEND_MAIL,
        key=f"identity.reset-mail:{token_id}",
        to=[to],
        subject=subject,
        sealed_text=seal(settings, text),
    )


async def confirm_password_reset(
    *, session: AsyncSession, settings: Settings, infra: Infra, raw_token: str, new_password: str, meta: Meta
) -> None:
    meta = meta.clipped()
    await ratelimits.enforce(
        infra.limiter, settings.reset_confirm_limit_ip, "reset-confirm", meta.ip or "unknown"
    )
    invalid = BadRequest("Invalid or expired token", code="invalid_token")
    hashed = digest(raw_token)
    row = (
        await session.execute(select(PasswordResetToken).where(PasswordResetToken.token == hashed))
    ).scalar_one_or_none()
    if row is None:
        raise invalid
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise invalid
    # Validate before using the token up, so a refused password does not burn the link.
    _check_context(new_password, email=user.email, username=user.username, field="new_password")
    used = await session.execute(
        update(PasswordResetToken)
        .where(
            PasswordResetToken.id == row.id,
            PasswordResetToken.used.is_(False),
            PasswordResetToken.expires_at > utcnow(),
        )
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:
        await session.rollback()
        raise invalid
    await _set_password(session, settings, user, new_password)
    revoked = await revoke_families(
        session=session, settings=settings, infra=infra, user_id=user.id, reason="password_reset"
    )
    audit(
        session,
        "password_reset_completed",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"sessions_revoked": len(revoked)},
    )
    await session.commit()


# --------------------------------------------------------------------------- administration


def _search(q: str) -> Any:
    pattern = "%" + q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(
        User.email.like(pattern, escape="\\"),
        User.username_key.like(pattern, escape="\\"),
        func.lower(User.full_name).like(pattern, escape="\\"),
    )


async def list_users(
    *,
    session: AsyncSession,
    role: str | None = None,
    is_active: bool | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[User], int]:
    conditions = []
    if role is not None:
        conditions.append(User.role == role)
    if is_active is not None:
        conditions.append(User.is_active.is_(is_active))
    if q and q.strip():
        conditions.append(_search(q))
    total = (await session.execute(select(func.count(User.id)).where(*conditions))).scalar_one()
    stmt = select(User).where(*conditions).order_by(User.id).limit(limit).offset(offset)
    return list((await session.execute(stmt)).scalars()), int(total)


async def create_user(
    *, session: AsyncSession, settings: Settings, data: UserCreate, actor: User | None, meta: Meta
) -> User:
    user = await new_user(
        session,
        settings,
        email=data.email,
        username=data.username,
        password=data.password,
        role=data.role,
        full_name=data.full_name,
        phone=data.phone,
    )
    audit(
        session,
        "register",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"created_by": actor.id if actor else None, "role": user.role},
    )
    await _commit_unique(session)
    return user


async def _other_active_admins(session: AsyncSession, user_id: int) -> int:
    stmt = select(func.count(User.id)).where(
        User.role == "admin", User.is_active.is_(True), User.id != user_id
    )
    return int((await session.execute(stmt)).scalar_one())


async def update_user(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    user: User,
    data: UserUpdate,
    actor: User | None,
    meta: Meta,
) -> User:
    fields = data.model_fields_set
    losing_admin = (
        user.role == "admin"
        and user.is_active
        and (
            ("role" in fields and data.role not in (None, "admin"))
            or ("is_active" in fields and data.is_active is False)
        )
    )
    if losing_admin and await _other_active_admins(session, user.id) == 0:
        raise Conflict("The last active admin cannot be demoted or deactivated", code="last_admin")
    if "email" in fields or "username" in fields:
        email = data.email.lower() if "email" in fields and data.email else None
        username = data.username if "username" in fields else None
        await _ensure_unique(session, email=email, username=username, exclude_id=user.id)
        new_email = email if "email" in fields else user.email
        new_username = username if "username" in fields else user.username
        if not new_email and not new_username:
            raise Unprocessable("A user needs an email or a username", code="validation_error")
        user.email, user.username = new_email, new_username
        user.username_key = new_username.lower() if new_username else None
    if "full_name" in fields:
        user.full_name = data.full_name
    if "phone" in fields:
        user.phone = data.phone
    by = actor.id if actor else None
    if "role" in fields and data.role is not None and data.role != user.role:
        audit(
            session,
            "role_changed",
            success=True,
            meta=meta,
            user_id=user.id,
            details={"from": user.role, "to": data.role, "by": by},
        )
        user.role = data.role
    if "password" in fields and data.password:
        _check_context(data.password, email=user.email, username=user.username, field="password")
        await _set_password(session, settings, user, data.password)
        await revoke_families(
            session=session, settings=settings, infra=infra, user_id=user.id, reason="password_set"
        )
        audit(session, "password_changed", success=True, meta=meta, user_id=user.id, details={"by": by})
    if "is_active" in fields and data.is_active is not None and data.is_active != user.is_active:
        user.is_active = data.is_active
        if not data.is_active:
            revoked = await revoke_families(
                session=session, settings=settings, infra=infra, user_id=user.id, reason="deactivated"
            )
            audit(
                session,
                "user_deactivated",
                success=True,
                meta=meta,
                user_id=user.id,
                details={"by": by, "sessions_revoked": len(revoked)},
            )
    user.updated_at = utcnow()
    await _commit_unique(session)
    return user


async def deactivate_user(
    *, session: AsyncSession, settings: Settings, infra: Infra, user: User, actor: User | None, meta: Meta
) -> User:
    return await update_user(
        session=session,
        settings=settings,
        infra=infra,
        user=user,
        data=UserUpdate(is_active=False),
        actor=actor,
        meta=meta,
    )


async def set_role(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    user: User,
    role: str,
    actor: User | None,
    meta: Meta,
) -> User:
    return await update_user(
        session=session,
        settings=settings,
        infra=infra,
        user=user,
        data=UserUpdate(role=role),  # type: ignore[arg-type]
        actor=actor,
        meta=meta,
    )


# --------------------------------------------------------------------------- audit queries


def _event_filters(
    *,
    user_id: int | None = None,
    event_type: str | None = None,
    success: bool | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[Any]:
    conditions: list[Any] = []
    if user_id is not None:
        conditions.append(AuthEvent.user_id == user_id)
    if event_type is not None:
        conditions.append(AuthEvent.event_type == event_type)
    if success is not None:
        conditions.append(AuthEvent.success.is_(success))
    if since is not None:
        conditions.append(AuthEvent.created_at >= since)
    if until is not None:
        conditions.append(AuthEvent.created_at < until)
    return conditions


async def list_events(
    *, session: AsyncSession, limit: int = 50, offset: int = 0, **filters: Any
) -> tuple[list[AuthEvent], int]:
    conditions = _event_filters(**filters)
    total = (await session.execute(select(func.count(AuthEvent.id)).where(*conditions))).scalar_one()
    stmt = (
        select(AuthEvent)
        .where(*conditions)
        .order_by(AuthEvent.created_at.desc(), AuthEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.execute(stmt)).scalars()), int(total)


async def count_events(
    *, session: AsyncSession, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict[str, int]:
    conditions = _event_filters(since=since, until=until)
    stmt = (
        select(AuthEvent.event_type, func.count(AuthEvent.id))
        .where(*conditions)
        .group_by(AuthEvent.event_type)
    )
    return {event_type: int(count) for event_type, count in (await session.execute(stmt)).all()}


# --------------------------------------------------------------------------- bootstrap


class WeakPassword(ValueError):
    pass


async def create_admin(
    *,
    session: AsyncSession,
    settings: Settings,
    email: str | None,
    password: str,
    username: str | None = None,
    full_name: str | None = None,
) -> User:
    """An admin account for the command line and first start; a weak password is refused."""
    problem = policy_problem(password, context=(email, username))
    if problem:
        raise WeakPassword(problem)
    data = UserCreate(email=email, username=username, password=password, full_name=full_name, role="admin")
    return await create_user(session=session, settings=settings, data=data, actor=None, meta=Meta(ip="cli"))


async def bootstrap_admin(*, session: AsyncSession, settings: Settings) -> User | None:
    """On first start: the admin of BASIS_ADMIN_EMAIL / BASIS_ADMIN_PASSWORD when there is none yet."""
    if not settings.admin_email or settings.admin_password is None:
        return None
    exists = await session.execute(select(User.id).where(User.role == "admin").limit(1))
    if exists.first() is not None:
        return None
    try:
        user = await create_admin(
            session=session,
            settings=settings,
            email=settings.admin_email,
            password=settings.admin_password.get_secret_value(),
        )
    except Conflict:
        # Another process of the same deployment created it first, or the email is taken.
        await session.rollback()
        return None
    log.info("first_admin_created", email=user.email)
    return user
