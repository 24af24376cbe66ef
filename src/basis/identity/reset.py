"""Password reset: a one-time link by mail for a forgotten password, and its use. The request
answers the same whether or not the account exists; the link works once and ends every session.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import BadRequest
from basis.core.time import utcnow
from basis.identity import ratelimits
from basis.identity.events import Meta, audit
from basis.identity.models import PasswordResetToken, User
from basis.identity.sessions import revoke_families
from basis.identity.tokens import digest, new_secret
from basis.identity.users import check_password_context, set_password

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings

RESET_ACCEPTED = "If an account with this email exists, a password reset link has been sent."


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
    check_password_context(new_password, email=user.email, username=user.username, field="new_password")
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
    await set_password(session, settings, user, new_password)
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
