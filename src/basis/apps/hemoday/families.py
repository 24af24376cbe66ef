"""Families and their members: the family a caller belongs to, read on every request, invite
codes, joining, leaving, removal and ownership.

Each user is in exactly one family. A user the app has not seen yet (a core account calling
/api/v1 for the first time) gets a family of their own, as a registration would give them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.hemoday import exceptions as exc
from basis.apps.hemoday.models import Family, FamilyEvent, Member
from basis.core.audit import Actor, AuditTrail
from basis.core.time import utcnow
from basis.identity.models import User

CODE_ALPHABET = string.ascii_uppercase + string.digits
CODE_PATTERN = re.compile(r"^[A-Z0-9]{6}$")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling and the family they are in now (read per request, never from a token)."""

    user_id: int
    public_id: str
    family_id: str
    role: str
    email: str | None
    created_at: dt.datetime

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    @property
    def id(self) -> int:
        """The caller as an audit actor (``basis.core.audit.Actor``)."""
        return self.user_id

    @property
    def login_name(self) -> str | None:
        return self.email


TRAIL = AuditTrail(FamilyEvent)


def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    *,
    family_id: str,
    member_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """An entry of the family events trail, in the caller's transaction."""
    entry = TRAIL.record(
        session,
        actor=actor,
        action=action,
        entity="member" if member_id else "family",
        entity_id=member_id,
        before=before,
        after=after,
    )
    entry.family_id = family_id


def new_invite_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def normalise_code(code: str) -> str:
    """An invite code as stored; 422 when it cannot be one (rule 16)."""
    code = code.strip().upper()
    if not CODE_PATTERN.match(code):
        raise exc.invalid_field("invite_code", "must be 6 characters A-Z or 0-9")
    return code


async def _unique_code(session: AsyncSession) -> str:
    while True:
        code = new_invite_code()
        if await session.scalar(select(Family.id).where(Family.invite_code == code)) is None:
            return code


async def new_family(session: AsyncSession, owner_id: int) -> Family:
    """A family owned by ``owner_id``; flushes, the caller commits."""
    family = Family(
        invite_code=await _unique_code(session), owner_id=owner_id, clock_ms=0, created_at=utcnow()
    )
    session.add(family)
    await session.flush()
    return family


async def add_member(session: AsyncSession, *, user_id: int, family_id: str, role: str) -> Member:
    member = Member(user_id=user_id, family_id=family_id, role=role, joined_at=utcnow())
    session.add(member)
    await session.flush()
    return member


async def move_to_own_family(session: AsyncSession, member: Member) -> Family:
    """``member`` leaves for a new family of which they are the owner."""
    family = await new_family(session, member.user_id)
    member.family_id = family.id
    member.role = "owner"
    member.joined_at = utcnow()
    await session.flush()
    return family


async def caller_of(session: AsyncSession, user: User) -> Caller:
    """The caller's current family; a first-time user gets a family of their own."""
    # Plain values first: a rollback below expires the session's rows, the caller's too.
    user_id, email, created_at = user.id, user.email, user.created_at
    stmt = select(Member).where(Member.user_id == user_id).execution_options(populate_existing=True)
    member = (await session.execute(stmt)).scalar_one_or_none()
    if member is None:
        try:
            family = await new_family(session, user_id)
            member = await add_member(session, user_id=user_id, family_id=family.id, role="owner")
            await session.commit()
        except IntegrityError:  # a concurrent first request made it
            await session.rollback()
            member = (await session.execute(stmt)).scalar_one()
    return Caller(
        user_id=user_id,
        public_id=member.public_id,
        family_id=member.family_id,
        role=member.role,
        email=email,
        created_at=created_at,
    )


async def get_family(session: AsyncSession, family_id: str) -> Family:
    family = await session.get(Family, family_id, populate_existing=True)
    assert family is not None
    return family


async def _member_row(session: AsyncSession, caller: Caller) -> Member:
    member = await session.get(Member, caller.user_id, populate_existing=True)
    assert member is not None
    return member


async def _lock_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(select(Family.id).where(Family.id == family_id).with_for_update())


async def member_count(session: AsyncSession, family_id: str) -> int:
    return int(await session.scalar(select(func.count()).where(Member.family_id == family_id)) or 0)


async def details(session: AsyncSession, family_id: str) -> dict[str, Any]:
    """The family as the app shows it, with its members (rule 15)."""
    family = await get_family(session, family_id)
    rows = (
        await session.execute(
            select(Member.public_id, Member.role, User.email, User.created_at)
            .join(User, User.id == Member.user_id)
            .where(Member.family_id == family_id)
            .order_by(Member.joined_at, Member.user_id)
        )
    ).all()
    return {
        "id": family.id,
        "invite_code": family.invite_code,
        "owner_id": await _public_id(session, family.owner_id),
        "patient_name": family.patient_name,
        "patient_birth_date": family.patient_birth_date,
        "patient_current_weight": family.patient_current_weight,
        "members": [
            {
                "id": row.public_id,
                "email": row.email,
                "family_id": family.id,
                "invite_code": family.invite_code,
                "created_at": row.created_at,
                "role": row.role,
            }
            for row in rows
        ],
    }


async def _public_id(session: AsyncSession, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return await session.scalar(select(Member.public_id).where(Member.user_id == user_id))


async def update_family(session: AsyncSession, caller: Caller, changes: dict[str, Any]) -> None:
    """Any member edits the patient's details; values are checked by the schema."""
    if changes:
        await session.execute(update(Family).where(Family.id == caller.family_id).values(**changes))
        # Which fields, never their values: the patient's details are health data.
        record(
            session, caller, "family_updated", family_id=caller.family_id, after={"fields": sorted(changes)}
        )
    await session.commit()


async def family_by_code(session: AsyncSession, code: str) -> Family | None:
    return (await session.execute(select(Family).where(Family.invite_code == code))).scalar_one_or_none()


async def join(session: AsyncSession, caller: Caller, family: Family) -> None:
    """The caller moves into ``family`` as a member; their records stay with the old family."""
    if family.id == caller.family_id:
        return
    await _lock_family(session, caller.family_id)
    others = await session.scalar(
        select(func.count()).where(Member.family_id == caller.family_id, Member.user_id != caller.user_id)
    )
    if others:
        raise exc.family_not_empty()
    member = await _member_row(session, caller)
    member.family_id = family.id
    member.role = "member"
    member.joined_at = utcnow()
    record(
        session,
        caller,
        "joined",
        family_id=family.id,
        member_id=caller.user_id,
        before={"family_id": caller.family_id},
    )
    await session.commit()


async def leave(session: AsyncSession, caller: Caller) -> None:
    await _lock_family(session, caller.family_id)
    if caller.is_owner and await member_count(session, caller.family_id) > 1:
        raise exc.family_not_empty()
    family = await move_to_own_family(session, await _member_row(session, caller))
    record(
        session,
        caller,
        "left",
        family_id=caller.family_id,
        member_id=caller.user_id,
        after={"family_id": family.id},
    )
    await session.commit()


async def _target(session: AsyncSession, caller: Caller, public_id: str) -> Member:
    """A member of the caller's family by public id; anyone else is unknown (404)."""
    if not isinstance(public_id, str) or len(public_id) > 36:
        raise exc.member_not_found()
    member = (
        await session.execute(
            select(Member)
            .where(Member.public_id == public_id.lower(), Member.family_id == caller.family_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if member is None:
        raise exc.member_not_found()
    return member


async def remove_member(session: AsyncSession, caller: Caller, public_id: str) -> None:
    """The owner removes a member, who gets a family of their own at once (rule 18)."""
    if not caller.is_owner:
        raise exc.owner_only()
    await _lock_family(session, caller.family_id)
    target = await _target(session, caller, public_id)
    if target.user_id == caller.user_id:
        raise exc.cannot_remove_owner()
    removed = target.user_id
    family = await move_to_own_family(session, target)
    record(
        session,
        caller,
        "member_removed",
        family_id=caller.family_id,
        member_id=removed,
        after={"family_id": family.id},
    )
    await session.commit()


async def transfer_ownership(session: AsyncSession, caller: Caller, public_id: str) -> None:
    if not caller.is_owner:
        raise exc.owner_only()
    await _lock_family(session, caller.family_id)
    target = await _target(session, caller, public_id)
    if target.user_id == caller.user_id:
        return
    me = await _member_row(session, caller)
    target.role, me.role = "owner", "member"
    await session.execute(update(Family).where(Family.id == caller.family_id).values(owner_id=target.user_id))
    record(session, caller, "ownership_transferred", family_id=caller.family_id, member_id=target.user_id)
    await session.commit()


async def regenerate_code(session: AsyncSession, caller: Caller) -> str:
    if not caller.is_owner:
        raise exc.owner_only()
    code = await _unique_code(session)
    await session.execute(update(Family).where(Family.id == caller.family_id).values(invite_code=code))
    record(session, caller, "invite_code_changed", family_id=caller.family_id)
    await session.commit()
    return code
