"""The app's account calls on the core identity: register (with a new family), join-family (a
new user joining by invite code), login, and the long-lived app token bound to a core session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import exceptions as exc
from basis.apps.hemoday import families
from basis.apps.hemoday.settings import HemodaySettings
from basis.core.errors import Forbidden, TooManyRequests
from basis.identity import ratelimits
from basis.identity.events import Meta, audit
from basis.identity.login import verify_credentials
from basis.identity.models import User
from basis.identity.sessions import start_session
from basis.identity.tokens import TokenCodec
from basis.identity.users import commit_unique, new_user

if TYPE_CHECKING:
    from basis.core.infra import Infra
    from basis.core.ratelimit import RateLimiter
    from basis.settings import Settings


@dataclass(frozen=True, slots=True)
class AppToken:
    access_token: str
    user_id: str
    family_id: str
    invite_code: str


def _codec(settings: Settings) -> TokenCodec:
    days = settings.app(HemodaySettings).access_token_days
    return TokenCodec(
        settings.signing_secrets,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_minutes=days * 24 * 60,
    )


async def _open_session(
    *, session: AsyncSession, settings: Settings, user: User, meta: Meta
) -> tuple[str, str]:
    """A core session and the app's long-lived access token in it: (sid, token)."""
    issued = await start_session(session=session, settings=settings, user=user, meta=meta, device="hemoday")
    token = _codec(settings).issue_access(user_id=user.id, sid=issued.sid, role=user.role)
    return issued.sid, token


async def app_token(*, session: AsyncSession, user_id: int, access_token: str) -> AppToken:
    user = await session.get(User, user_id)
    assert user is not None
    caller = await families.caller_of(session, user)
    family = await families.get_family(session, caller.family_id)
    return AppToken(access_token, caller.public_id, family.id, family.invite_code)


async def _registration_open(*, settings: Settings, infra: Infra, meta: Meta) -> None:
    if settings.registration != "open":
        raise Forbidden("Registration is closed", code="registration_closed")
    await ratelimits.enforce(
        infra.limiter,
        settings.register_limit_ip,
        "register",
        meta.ip or "unknown",
        detail="Too many registrations; try again later",
    )


async def register(
    *,
    session: AsyncSession,
    settings: Settings,
    infra: Infra,
    email: str,
    password: str,
    meta: Meta,
    family_code: str | None = None,
) -> AppToken:
    """A new user with a new family, or (``family_code``) joining that family; all or nothing."""
    meta = meta.clipped()
    family = None
    if family_code is not None:
        code = families.normalise_code(family_code)
        limiter = infra.limiter
        key = ("hemoday-join-ip", meta.ip or "unknown")
        await check_join_limit(limiter, settings, *key)
        family = await families.family_by_code(session, code)
        if family is None:
            await join_failed(limiter, settings, *key)
            raise exc.invite_code_not_found()
    await _registration_open(settings=settings, infra=infra, meta=meta)
    user = await new_user(session, settings, email=email, username=None, password=password, role="user")
    if family is None:
        family = await families.new_family(session, user.id)
        role = "owner"
    else:
        role = "member"
    member = await families.add_member(session, user_id=user.id, family_id=family.id, role=role)
    families.record(
        session,
        user,
        "family_created" if role == "owner" else "joined",
        family_id=family.id,
        member_id=user.id,
    )
    sid, token = await _open_session(session=session, settings=settings, user=user, meta=meta)
    audit(
        session, "register", success=True, meta=meta, user_id=user.id, details={"sid": sid, "app": "hemoday"}
    )
    result = AppToken(token, member.public_id, family.id, family.invite_code)
    await commit_unique(session)
    return result


async def login(
    *, session: AsyncSession, settings: Settings, infra: Infra, email: str, password: str, meta: Meta
) -> AppToken:
    user = await verify_credentials(
        session=session,
        settings=settings,
        infra=infra,
        identifier=email,
        password=password,
        meta=meta,
        channel="hemoday",
    )
    sid, token = await _open_session(session=session, settings=settings, user=user, meta=meta)
    audit(
        session,
        "login_success",
        success=True,
        meta=meta,
        user_id=user.id,
        details={"sid": sid, "channel": "hemoday"},
    )
    await session.commit()
    return await app_token(session=session, user_id=user.id, access_token=token)


async def check_join_limit(limiter: RateLimiter, settings: Settings, *key: str) -> None:
    """429 for every join attempt once too many failed (rule 16), the right code included."""
    result = await limiter.peek(settings.app(HemodaySettings).join_limit, *key)
    if not result.allowed:
        raise TooManyRequests("Too many failed invite codes; try again later", retry_after=result.retry_after)


async def join_failed(limiter: RateLimiter, settings: Settings, *key: str) -> None:
    await limiter.hit(settings.app(HemodaySettings).join_limit, *key)


async def join_by_code(
    *, session: AsyncSession, settings: Settings, infra: Infra, caller: families.Caller, code: str
) -> None:
    """/family/join: an existing user moves into the family of ``code``."""
    code = families.normalise_code(code)
    key = ("hemoday-join-account", str(caller.user_id))
    await check_join_limit(infra.limiter, settings, *key)
    family = await families.family_by_code(session, code)
    if family is None:
        await join_failed(infra.limiter, settings, *key)
        raise exc.invite_code_not_found()
    await families.join(session, caller, family)
