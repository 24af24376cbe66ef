"""Login: checking credentials under the login limits (per address, per account, lockout),
the API and admin-panel logins built on it, and re-authentication before a sensitive change.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import BadRequest, TooManyRequests, Unauthorized
from basis.core.time import utcnow
from basis.identity import ratelimits
from basis.identity.events import Meta, audit
from basis.identity.models import RefreshToken, User
from basis.identity.passwords import burn_verify, verify_password
from basis.identity.sessions import IssuedSession, start_session
from basis.identity.tokens import digest, new_secret, new_session_id
from basis.identity.users import get_user_by_identifier, normalise_identifier

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings

ADMIN_PANEL_DEVICE = "admin-panel"
ADMIN_PANEL_HOURS = 12


def invalid_credentials() -> Unauthorized:
    return Unauthorized("Invalid credentials", code="invalid_credentials")


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
    required_role: str | tuple[str, ...] | None = None,
) -> User:
    """The active user these credentials belong to, or ``invalid_credentials`` / 429.

    Unknown account, wrong password, inactive account (and, for the admin panel, a role that is
    not enough) fail the same way and take about the same time: a password is always verified
    against some hash.
    """
    meta = meta.clipped()
    key = normalise_identifier(identifier)
    # The account first, known or not: the counters key on the account the name resolves to
    # (its email and its username share them), and a lookup the server fails (database down)
    # has taken no attempt, so an outage never locks anyone out.
    user = await get_user_by_identifier(session, key)
    user_id = user.id if user else None
    account = ratelimits.account_key(user_id, key)
    limits = ratelimits.LoginLimits(infra.limiter, settings, ip=meta.ip or "unknown", account=account)
    wait = await limits.take_attempt()
    if wait is not None:
        await _rate_limited(session, meta, user_id, wait, channel)
    wait = await limits.ceiling_wait()
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
        elif required_role is not None and user.role not in (
            (required_role,) if isinstance(required_role, str) else required_role
        ):
            reason = "role_not_allowed"
    if reason is not None:
        await limits.failed()
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


PANEL_ROLES = ("admin", "operator")
"""Who may sign in to the panel; what each may open is decided per view."""


async def admin_panel_login(
    *, session: AsyncSession, settings: Settings, infra: Infra, identifier: str, password: str, meta: Meta
) -> tuple[int, str]:
    """The admin panel's login: an admin's or an operator's credentials (each view lets in the
    roles it names: ``basis.core.admin.RoleGate``); returns the user id and panel session id."""
    user = await verify_credentials(
        session=session,
        settings=settings,
        infra=infra,
        identifier=identifier,
        password=password,
        meta=meta,
        channel="admin",
        required_role=PANEL_ROLES,
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
            User.role.in_(PANEL_ROLES),
            RefreshToken.family_id == sid,
            RefreshToken.is_revoked.is_(False),
            RefreshToken.expires_at > now,
        )
        .limit(1)
    )
    return (await session.execute(stmt)).scalars().first()


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
