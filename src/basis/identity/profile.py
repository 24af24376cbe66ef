"""What a user does to their own account: register, edit the profile, change the password.
Each change of a login name or password asks for the current password first (``login``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import Forbidden
from basis.core.time import utcnow
from basis.identity import ratelimits
from basis.identity.events import Meta, audit
from basis.identity.login import check_current_password
from basis.identity.models import User
from basis.identity.schemas import MeUpdate, RegisterRequest
from basis.identity.sessions import IssuedSession, revoke_families, start_session
from basis.identity.users import check_password_context, commit_unique, ensure_unique, new_user, set_password

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings


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
    await commit_unique(session)
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
        await ensure_unique(session, email=new_email, username=None, exclude_id=user.id)
        user.email = new_email
    if "full_name" in fields:
        user.full_name = data.full_name
    if "phone" in fields:
        user.phone = data.phone
    user.updated_at = utcnow()
    await commit_unique(session)
    return user


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
    check_password_context(new_password, email=user.email, username=user.username, field="new_password")
    await set_password(session, settings, user, new_password)
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
