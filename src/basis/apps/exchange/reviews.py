"""Reviews after a completed exchange, rating summaries and the trust score.

Trust score (0-100), from what the exchange knows of a member:
- ratings, each weighted by recency (half weight after 180 days), pulled towards 3 stars by a
  prior worth two reviews, so one review does not make a member perfect: 50 %;
- completion rate, (completed + 1) / (completed + declined by them + 2): 25 %;
- account age, full after a year: 25 %;
- minus 10 points per upheld report against them (resolved other than ``dismissed``), at most 50.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.exchange import exceptions as exc
from basis.apps.exchange.models import Exchange, ListingItem, Participant, Report, Review
from basis.apps.exchange.schemas import RatingSummary, ReviewCreate, ReviewPublic, UserRating
from basis.core.errors import Conflict, TooManyRequests
from basis.core.time import utcnow
from basis.identity.models import User

HALF_LIFE_DAYS = 180.0
PRIOR_STARS, PRIOR_WEIGHT = 3.0, 2.0


def public(review: Review) -> ReviewPublic:
    return ReviewPublic(
        id=review.id,
        exchange_id=review.exchange_id,
        author_id=review.author_id,
        target_id=review.target_id,
        rating=review.rating,
        text=review.text,
        is_public=review.is_public,
        created_at=review.created_at,
    )


async def recent_count(session: AsyncSession, model: type[Review] | type[Report], author_id: int) -> int:
    column = model.author_id if model is Review else model.reporter_id  # type: ignore[union-attr]
    since = utcnow() - dt.timedelta(hours=1)
    return (
        await session.scalar(select(func.count()).where(column == author_id, model.created_at >= since)) or 0
    )


async def create(
    session: AsyncSession, *, author_id: int, target_id: int, data: ReviewCreate, per_hour: int
) -> Review:
    exchange = await session.get(Exchange, data.exchange_id)
    if exchange is None:
        raise exc.exchange_not_found()
    members = set(
        await session.scalars(select(Participant.user_id).where(Participant.exchange_id == exchange.id))
    )
    if author_id not in members:
        raise exc.not_participant()
    if exchange.status != "completed":
        raise Conflict("Reviews come after the exchange is completed", code="exchange_not_completed")
    if target_id not in members or target_id == author_id:
        raise exc.invalid("target_user_id", "The target must be a partner in this exchange", "invalid_target")
    if await session.scalar(
        select(Review.id).where(Review.exchange_id == exchange.id, Review.author_id == author_id)
    ):
        raise _duplicate()
    if await recent_count(session, Review, author_id) >= per_hour:
        raise TooManyRequests("Too many reviews this hour", retry_after=3600, code="rate_limited")
    review = Review(
        exchange_id=exchange.id,
        author_id=author_id,
        target_id=target_id,
        rating=data.rating,
        text=data.text,
        is_public=data.is_public,
        created_at=utcnow(),
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise _duplicate() from None
    return review


def _duplicate() -> Conflict:
    return Conflict("You have already reviewed this exchange", code="review_exists")


async def summary(session: AsyncSession, user_id: int) -> RatingSummary:
    avg, n = (
        await session.execute(
            select(func.avg(Review.rating), func.count()).where(Review.target_id == user_id)
        )
    ).one()
    return RatingSummary(average_rating=round(float(avg), 2) if n else None, total_reviews=int(n))


async def of_user(session: AsyncSession, *, user_id: int) -> tuple[list[ReviewPublic], RatingSummary]:
    rows = await session.scalars(
        select(Review)
        .where(Review.target_id == user_id, Review.is_public.is_(True))
        .order_by(Review.id.desc())
    )
    return [public(r) for r in rows], await summary(session, user_id)


async def rating(session: AsyncSession, *, user: User) -> UserRating:
    now = utcnow()
    reviews = (
        await session.execute(select(Review.rating, Review.created_at).where(Review.target_id == user.id))
    ).all()
    weights = [
        (0.5 ** ((now - created).total_seconds() / 86400 / HALF_LIFE_DAYS), stars)
        for stars, created in reviews
    ]
    rated = (sum(w * s for w, s in weights) + PRIOR_STARS * PRIOR_WEIGHT) / (
        sum(w for w, _ in weights) + PRIOR_WEIGHT
    )
    mine = select(Participant.exchange_id).where(Participant.user_id == user.id)
    completed = (
        await session.scalar(
            select(func.count()).where(Exchange.id.in_(mine), Exchange.status == "completed")
        )
        or 0
    )
    declined = (
        await session.scalar(
            select(func.count()).where(Participant.user_id == user.id, Participant.decision == "declined")
        )
        or 0
    )
    completion = (completed + 1) / (completed + declined + 2)
    age = min(1.0, (now - user.created_at).total_seconds() / 86400 / 365)
    owned = select(ListingItem.id).where(ListingItem.user_id == user.id)
    upheld = (
        await session.scalar(
            select(func.count()).where(
                Report.status == "resolved",
                Report.resolution != "dismissed",
                or_(Report.target_user_id == user.id, Report.target_listing_id.in_(owned)),
            )
        )
        or 0
    )
    score = 100 * (0.5 * rated / 5 + 0.25 * completion + 0.25 * age) - min(50, 10 * upheld)
    base = await summary(session, user.id)
    return UserRating(
        user_id=user.id,
        average_rating=base.average_rating,
        total_reviews=base.total_reviews,
        trust_score=round(max(0.0, score), 1),
        exchanges_completed=completed,
    )
