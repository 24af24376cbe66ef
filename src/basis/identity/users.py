"""User accounts: lookup, uniqueness of the login names, creation, administration (role,
activity, password set by an admin) and the first admin of a deployment.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import Conflict, Unprocessable
from basis.core.logging import get_logger
from basis.core.time import utcnow
from basis.identity.events import Meta, audit
from basis.identity.models import PasswordResetToken, User
from basis.identity.passwords import hash_password, policy_problem
from basis.identity.schemas import UserCreate, UserUpdate
from basis.identity.sessions import revoke_families

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.settings import Settings

log = get_logger("basis.identity")


def normalise_identifier(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lower()


async def get_user_by_identifier(session: AsyncSession, identifier: str) -> User | None:
    key = normalise_identifier(identifier)
    if not key:
        return None
    stmt = select(User).where(or_(User.email == key, User.username_key == key)).limit(1)
    return (await session.execute(stmt)).scalars().first()


async def ensure_unique(
    session: AsyncSession, *, email: str | None, username: str | None, exclude_id: int | None = None
) -> None:
    """Emails and usernames share one namespace: either may be typed as the login name."""
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


def check_password_context(password: str, *, email: str | None, username: str | None, field: str) -> None:
    """The password policy with the account's own names as context; a 422 on ``field``."""
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
    check_password_context(password, email=email, username=username, field="password")
    await ensure_unique(session, email=email, username=username)
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


async def commit_unique(session: AsyncSession) -> None:
    # A concurrent request may take the same name between the check and the commit.
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise account_exists() from None


async def set_password(session: AsyncSession, settings: Settings, user: User, password: str) -> None:
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
    await commit_unique(session)
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
        await ensure_unique(session, email=email, username=username, exclude_id=user.id)
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
        check_password_context(data.password, email=user.email, username=user.username, field="password")
        await set_password(session, settings, user, data.password)
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
    await commit_unique(session)
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
