"""Reports, their moderation queue and bans.

A ban deactivates the account through identity (every session revoked at once in every
process; login refused), hides the member's listings from browsing and matching, and cancels
their open exchanges. A ban with an end is lifted by ``lift_expired`` (run every minute by each
server process, and by ``basis exchange lift-bans``), which reactivates the account when no
other ban holds it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import chat
from basis.apps.exchange import exceptions as exc
from basis.apps.exchange import exchanges as exchange_service
from basis.apps.exchange.ids import parse_id
from basis.apps.exchange.listings import archive_items
from basis.apps.exchange.models import (
    OPEN_STATUSES,
    Ban,
    Exchange,
    ListingItem,
    Message,
    Participant,
    Report,
)
from basis.apps.exchange.reviews import recent_count
from basis.apps.exchange.schemas import BanRequest, ReportAdmin, ReportCreate, ResolveRequest
from basis.core.db import lock_row
from basis.core.errors import Conflict, TooManyRequests
from basis.core.infra import Infra
from basis.core.time import utcnow
from basis.identity.events import Meta
from basis.identity.models import User
from basis.identity.schemas import UserUpdate
from basis.identity.users import update_user
from basis.settings import Settings


def admin_view(report: Report) -> ReportAdmin:
    return ReportAdmin(
        id=report.id,
        reporter_id=report.reporter_id,
        target_listing_id=report.target_listing_id,
        target_user_id=report.target_user_id,
        target_message_id=report.target_message_id,
        reason=report.reason,
        status=report.status,
        created_at=report.created_at,
        description=report.description,
        evidence_urls=report.evidence_urls,
        resolution=report.resolution,
        admin_notes=report.admin_notes,
        resolved_at=report.resolved_at,
    )


async def _message_sender(session: AsyncSession, message_id: int, reporter_id: int) -> int:
    """The sender of a message the reporter can see (404 for an unknown one, 403 for another
    exchange's)."""
    row = (
        await session.execute(
            select(Message.exchange_id, Message.sender_id).where(
                Message.id == message_id, Message.removed_at.is_(None)
            )
        )
    ).first()
    if row is None:
        raise exc.message_not_found()
    await chat.participants(session, row.exchange_id, reporter_id)
    return int(row.sender_id)


async def report(session: AsyncSession, *, reporter_id: int, data: ReportCreate, per_hour: int) -> Report:
    targets = (data.target_listing_id, data.target_user_id, data.target_message_id)
    if sum(t is not None for t in targets) != 1:
        raise exc.invalid(
            ("body",),
            "Give exactly one of target_listing_id, target_user_id and target_message_id",
            "invalid_target",
        )
    listing_id = user_id = message_id = None
    if data.target_message_id is not None:
        message_id = parse_id(data.target_message_id, exc.message_not_found)
        owner = await _message_sender(session, message_id, reporter_id)
    elif data.target_listing_id is not None:
        listing_id = parse_id(data.target_listing_id, exc.item_not_found)
        owner = await session.scalar(select(ListingItem.user_id).where(ListingItem.id == listing_id))
        if owner is None:
            raise exc.item_not_found()
    else:
        user_id = parse_id(data.target_user_id, exc.user_not_found)
        if await session.get(User, user_id) is None:
            raise exc.user_not_found()
        owner = user_id
    if owner == reporter_id:
        raise exc.invalid(("body",), "You cannot report yourself", "self_report")
    if await recent_count(session, Report, reporter_id) >= per_hour:
        raise TooManyRequests("Too many reports this hour", retry_after=3600, code="rate_limited")
    row = Report(
        reporter_id=reporter_id,
        target_listing_id=listing_id,
        target_user_id=user_id,
        target_message_id=message_id,
        reason=data.reason,
        description=data.description,
        evidence_urls=data.evidence_urls,
        status="pending",
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def queue(session: AsyncSession, *, status: str | None) -> tuple[list[ReportAdmin], int]:
    stmt = select(Report)
    if status is not None:
        stmt = stmt.where(Report.status == status)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(stmt.order_by(Report.created_at, Report.id).limit(500))
    return [admin_view(r) for r in rows], total


async def resolve(
    session: AsyncSession,
    *,
    report_id: int,
    data: ResolveRequest,
    actor: User,
    settings: Settings,
    infra: Infra,
    meta: Meta,
) -> Report:
    if await lock_row(session, Report.__table__, report_id) is None:  # type: ignore[arg-type]
        raise exc.report_not_found()
    row = await session.get(Report, report_id, populate_existing=True)
    assert row is not None
    if row.status == "resolved":
        raise Conflict("The report is already resolved", code="report_resolved")
    owner = row.target_user_id
    if row.target_listing_id is not None:
        owner = await session.scalar(
            select(ListingItem.user_id).where(ListingItem.id == row.target_listing_id)
        )
    if row.target_message_id is not None:
        owner = await session.scalar(select(Message.sender_id).where(Message.id == row.target_message_id))
    if data.resolution == "message_removed":
        if row.target_message_id is None:
            raise exc.invalid("resolution", "This report names no chat message", "invalid_resolution")
        await session.execute(
            update(Message)
            .where(Message.id == row.target_message_id, Message.removed_at.is_(None))
            .values(removed_at=utcnow())
        )
    if data.resolution == "listing_removed":
        if row.target_listing_id is None:
            raise exc.invalid("resolution", "This report names a member, not a listing", "invalid_resolution")
        await archive_items(session, [row.target_listing_id])
        await exchange_service.cancel_using(session, [row.target_listing_id], reason="item_archived")
    row.status, row.resolution, row.admin_notes = "resolved", data.resolution, data.admin_notes
    row.resolved_by, row.resolved_at = actor.id, utcnow()
    await session.flush()
    if data.resolution == "user_banned" and owner is not None:
        await ban(
            session,
            user_id=owner,
            data=BanRequest(reason=f"report #{row.id}: {row.reason}"),
            actor=actor,
            settings=settings,
            infra=infra,
            meta=meta,
        )
    return row


async def active_ban(session: AsyncSession, user_id: int) -> Ban | None:
    now = utcnow()
    return await session.scalar(
        select(Ban)
        .where(
            Ban.user_id == user_id, Ban.lifted_at.is_(None), (Ban.ban_until.is_(None)) | (Ban.ban_until > now)
        )
        .order_by(Ban.id.desc())
    )


async def ban(
    session: AsyncSession,
    *,
    user_id: int,
    data: BanRequest,
    actor: User,
    settings: Settings,
    infra: Infra,
    meta: Meta,
) -> Ban:
    """Bans and commits: the deactivation goes through identity, which commits."""
    user = await session.get(User, user_id)
    if user is None:
        raise exc.user_not_found()
    if user.role == "admin":
        raise exc.invalid(("path", "user_id"), "Admins cannot be banned", "cannot_ban_admin")
    until = utcnow() + dt.timedelta(days=data.duration_days) if data.duration_days else None
    row = Ban(user_id=user_id, reason=data.reason, banned_by=actor.id, created_at=utcnow(), ban_until=until)
    session.add(row)
    mine = select(Participant.exchange_id).where(Participant.user_id == user_id)
    open_ids = list(
        await session.scalars(
            select(Exchange.id)
            .where(Exchange.id.in_(mine), Exchange.status.in_(OPEN_STATUSES))
            .order_by(Exchange.id)
        )
    )
    for exchange_id in open_ids:
        await exchange_service.cancel(session, exchange_id, reason="participant_banned")
    await session.flush()
    if user.is_active:
        await update_user(
            session=session,
            settings=settings,
            infra=infra,
            user=user,
            data=UserUpdate(is_active=False),
            actor=actor,
            meta=meta,
        )
    else:
        await session.commit()
    return row


async def lift_expired(session: AsyncSession, *, settings: Settings, infra: Infra) -> list[int]:
    """Ends the bans whose time is up; reactivates members no other ban holds. Commits."""
    now = utcnow()
    expired = list(
        await session.scalars(
            select(Ban).where(Ban.lifted_at.is_(None), Ban.ban_until.is_not(None), Ban.ban_until <= now)
        )
    )
    lifted: list[int] = []
    for row in expired:
        row.lifted_at = now
        await session.flush()
        if await active_ban(session, row.user_id) is not None:
            continue
        user = await session.get(User, row.user_id)
        if user is not None and not user.is_active:
            await update_user(
                session=session,
                settings=settings,
                infra=infra,
                user=user,
                data=UserUpdate(is_active=True),
                actor=None,
                meta=Meta(ip="exchange"),
            )
            lifted.append(row.user_id)
    await session.commit()
    return lifted
