"""Offline mail: a member with no open socket who still has a message unread when the delay
has passed gets one mail for that chat, to them alone; then none for that chat until the
quiet period has passed. Muted chats and one's own messages never mail."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, URLSafeSerializer
from redis.asyncio import Redis
from sqlalchemy import and_, func, or_, select, update

from basis.apps.messenger.models import Chat, ChatMember, Message
from basis.apps.messenger.presence import MemoryPresence, Presence, RedisPresence
from basis.apps.messenger.settings import MessengerSettings
from basis.core.jobs import JobContext, job
from basis.core.logging import get_logger
from basis.core.time import utcnow
from basis.identity.models import User
from basis.settings import Settings

if TYPE_CHECKING:
    from basis.apps.messenger.flows import Context

log = get_logger("basis.messenger.mail")
JOB = "messenger.offline_mail"
WAIT_PREFIX = "basis:kv:"
LOCAL_PRESENCE: list[Presence] = []
"""The serving process's presence, for jobs run in that process (no Redis)."""


def _signer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.admin_secret, salt="basis.messenger.mute-mail")


def mute_token(settings: Settings, *, chat_id: int, user_id: int) -> str:
    return _signer(settings).dumps({"c": chat_id, "u": user_id})


def read_mute_token(settings: Settings, token: str) -> tuple[int, int] | None:
    try:
        claims = _signer(settings).loads(token)
    except BadSignature:
        return None
    if (
        not isinstance(claims, dict)
        or not isinstance(claims.get("c"), int)
        or not isinstance(claims.get("u"), int)
    ):
        return None
    return claims["c"], claims["u"]


async def stage(
    ctx: Context, *, chat_id: int, sender_id: int, message_id: int, roster: list[tuple[int, bool]]
) -> None:
    """Stage the mail job in the send's own transaction, due when the delay has passed (the
    core outbox's ``not_before``): it is queued if and only if the message is stored, and a
    restart in between loses nothing. At most one waiting job per chat and member: a member
    already waiting for a mail about this chat is not staged again."""
    others = [uid for uid, muted in roster if uid != sender_id and not muted]
    if not others:
        return
    online = await ctx.presence.online(others)
    offline = [uid for uid in others if uid not in online]
    if not offline:
        return
    delay = ctx.app.offline_mail_delay_seconds
    waiting = await _claim_waits(ctx, chat_id, offline, max(1, delay))
    if not waiting:
        return
    ctx.infra.jobs.stage(
        ctx.session,
        JOB,
        key=f"messenger-mail:{chat_id}:{message_id}",
        not_before=utcnow() + dt.timedelta(seconds=delay),
        chat_id=chat_id,
        user_ids=waiting,
        message_id=message_id,
    )


async def _claim_waits(ctx: Context, chat_id: int, user_ids: list[int], ttl: int) -> list[int]:
    """The members not already waiting for a mail about the chat, now marked as waiting: one
    round trip to Redis for the whole list (a set-if-absent each), not one per member."""
    keys = [f"messenger:mail-wait:{chat_id}:{uid}" for uid in user_ids]
    redis = ctx.infra.redis
    if redis is None:
        claimed = [await ctx.infra.kv.set(key, "1", ttl, nx=True) for key in keys]
    else:
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(f"{WAIT_PREFIX}{key}", "1", ex=ttl, nx=True)
            claimed = await pipe.execute()
    return [uid for uid, ok in zip(user_ids, claimed, strict=True) if ok]


def _presence(ctx: JobContext) -> tuple[Presence, Redis | None]:
    if ctx.settings.redis_url:
        redis = Redis.from_url(ctx.settings.redis_url)
        return RedisPresence(redis, ttl=ctx.settings.app(MessengerSettings).presence_ttl_seconds), redis
    return (LOCAL_PRESENCE[-1] if LOCAL_PRESENCE else MemoryPresence()), None


async def _online(ctx: JobContext, user_ids: list[int]) -> set[int]:
    presence, redis = _presence(ctx)
    try:
        return await presence.online(user_ids)
    finally:
        if redis is not None:
            await redis.aclose()


@job(JOB, retries=3)
async def offline_mail(
    ctx: JobContext,
    *,
    chat_id: int,
    message_id: int,
    user_ids: list[int] | None = None,
    user_id: int | None = None,
) -> None:
    """Runs when due (the outbox holds it until then): one mail per member still offline with
    something unread. ``user_id`` is the one-member form jobs queued by earlier versions used."""
    wanted = list(user_ids or []) + ([user_id] if user_id is not None else [])
    online = await _online(ctx, wanted)
    for uid in wanted:
        if uid not in online:
            await _mail_one(ctx, chat_id=chat_id, user_id=uid)


async def _mail_one(ctx: JobContext, *, chat_id: int, user_id: int) -> None:
    app = ctx.settings.app(MessengerSettings)
    async with ctx.sessionmaker() as session:
        member = await session.get(ChatMember, (chat_id, user_id))
        if member is None or member.muted:
            return
        marker = member.last_read_message_id or 0
        unread = (
            await session.execute(
                select(Message.id, Message.sender_id, Message.text)
                .where(
                    Message.chat_id == chat_id,
                    Message.id > marker,
                    Message.sender_id != user_id,
                    Message.deleted_at.is_(None),
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
        ).one_or_none()
        if unread is None:
            return
        user = await session.get(User, user_id)
        sender = await session.get(User, unread.sender_id)
        chat = await session.get(Chat, chat_id)
        count = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.chat_id == chat_id,
                Message.id > marker,
                Message.sender_id != user_id,
                Message.deleted_at.is_(None),
            )
        )
        if user is None or not user.is_active or not user.email or chat is None:
            return
        # The quiet period, claimed atomically: of two jobs for one chat and member, one mails.
        now = utcnow()
        quiet = now - dt.timedelta(seconds=app.offline_mail_quiet_seconds)
        claimed = await session.execute(
            update(ChatMember)
            .where(
                and_(ChatMember.chat_id == chat_id, ChatMember.user_id == user_id),
                or_(ChatMember.last_mailed_at.is_(None), ChatMember.last_mailed_at <= quiet),
            )
            .values(last_mailed_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return
        await session.commit()
        subject, text = _compose(
            ctx.settings,
            app,
            chat=chat,
            sender=sender,
            user_id=user_id,
            count=int(count or 1),
            preview=unread.text,
        )
    await ctx.mailer.send([user.email], subject, text)


def _name(user: Any) -> str:
    if user is None:
        return "someone"
    return user.full_name or user.username or "someone"


def _compose(
    settings: Settings,
    app: MessengerSettings,
    *,
    chat: Chat,
    sender: Any,
    user_id: int,
    count: int,
    preview: str,
) -> tuple[str, str]:
    base = settings.public_url.rstrip("/")
    where = f"the group {chat.title}" if chat.type == "group" and chat.title else f"your {chat.type}"
    who = _name(sender)
    subject = f"New message from {who} in {where}"[:200].replace("\n", " ").replace("\r", " ")
    lines = [
        f"{who} wrote in {where} while you were away ({count} unread).",
        "",
    ]
    if app.mail_preview and preview:
        lines += [preview[:500], ""]
    token = mute_token(settings, chat_id=chat.id, user_id=user_id)
    lines += [
        f"Open the chat: {base}/chats/{chat.id}",
        "",
        f"Stop mail about this chat: {base}/api/mail/mute?token={token}",
    ]
    return subject, "\n".join(lines)
