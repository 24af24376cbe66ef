"""What a user does that others see at once: each step stores, commits, then publishes.
REST and the socket both call these, so the two behave alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import attachments, chats, events, messages, views
from basis.apps.messenger.models import Message, SendKey
from basis.apps.messenger.presence import Presence
from basis.apps.messenger.schemas import MessageCreate, ReadOut
from basis.apps.messenger.settings import MessengerSettings
from basis.core.errors import BasisError, TooManyRequests
from basis.core.idempotency import Answer, IdempotencyStore, run_once
from basis.core.infra import Infra
from basis.core.logging import get_logger
from basis.settings import Settings

log = get_logger("basis.messenger")
SEND_KEYS = IdempotencyStore(SendKey, scope=("user_id",))
"""One message per sender and temp_id, over REST and the socket alike (rule 16)."""
# Any repeat of a temp_id is the same message, whatever it carries this time (Matrix txn ids).
SEND_FINGERPRINT: dict[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Context:
    session: AsyncSession
    infra: Infra
    settings: Settings
    presence: Presence

    @property
    def app(self) -> MessengerSettings:
        return self.settings.app(MessengerSettings)

    @property
    def expires(self) -> int:
        return self.app.download_expires_seconds


class Replayed(BasisError):
    """A refusal stored with a temp_id, answered again."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail"), code=body.get("code"))
        self.status_code = status  # type: ignore[misc]


async def _message_body(ctx: Context, message_id: int) -> dict[str, Any] | None:
    row = await ctx.session.get(Message, message_id, populate_existing=True)
    if row is None:
        return None
    return views.dump(await views.message_out(ctx.session, ctx.infra.storage, row, ctx.expires))


async def _replay(ctx: Context, answer: Answer) -> dict[str, Any]:
    if answer.status >= 400:
        raise Replayed(answer.status, answer.body)
    fresh = await _message_body(ctx, int(answer.body["id"]))
    await ctx.session.rollback()
    return fresh or answer.body


async def _earlier_answer(ctx: Context, sender_id: int, temp_id: str) -> Answer | None:
    c = SendKey.__table__.c
    row = (
        await ctx.session.execute(
            select(c.status_code, c.response_body).where(c.user_id == sender_id, c.key == temp_id)
        )
    ).one_or_none()
    if row is None or row.status_code is None:
        return None
    return Answer(row.status_code, row.response_body, replayed=True)


class _RateRefused(Exception):
    """Not a BasisError: the idempotency store must not keep this refusal for the temp_id."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


async def send_message(
    ctx: Context,
    *,
    sender_id: int,
    chat_id: int,
    data: MessageCreate,
    acknowledge: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> tuple[dict[str, Any], bool]:
    """The Message as a dict, and whether it was a repeat of an earlier send (nothing stored,
    nothing pushed, the rate limit untouched). ``acknowledge`` gets the message once stored,
    before anyone is told: a sending socket hears its ACK before its own ``new_message``."""
    session = ctx.session
    if data.temp_id is not None:
        earlier = await _earlier_answer(ctx, sender_id, data.temp_id)
        if earlier is not None:
            return await _acknowledged(await _replay(ctx, earlier), acknowledge), True
    await chats.require_member(session, chat_id=chat_id, user_id=sender_id)
    if data.attachments:
        await attachments.check(
            session=session, storage=ctx.infra.storage, user_id=sender_id, files=data.attachments
        )
    await session.rollback()  # reads done: the claim and the work run in one fresh transaction

    async def work() -> dict[str, Any]:
        # Counted only once the temp_id is claimed: a concurrent repeat waits for the claim and
        # replays, costing nothing; a refusal leaves the temp_id unused for a later retry.
        result = await ctx.infra.limiter.hit(ctx.app.send_limit, "messenger.send", str(sender_id))
        if not result.allowed:
            raise _RateRefused(result.retry_after)
        message = await messages.store(
            session=session, chat_id=chat_id, sender_id=sender_id, text=data.text, temp_id=data.temp_id
        )
        if data.attachments:
            await attachments.attach(
                session=session,
                storage=ctx.infra.storage,
                message=message,
                user_id=sender_id,
                files=data.attachments,
            )
        return views.dump(await views.message_out(session, ctx.infra.storage, message, ctx.expires))

    try:
        done = await run_once(
            session,
            SEND_KEYS,
            scope={"user_id": sender_id},
            key=data.temp_id,
            payload=SEND_FINGERPRINT,
            work=work,
            answer=lambda body: Answer(201, body),
        )
    except _RateRefused as refused:
        await session.rollback()
        raise TooManyRequests("Too many messages; slow down", retry_after=refused.retry_after) from None
    if done.value is None:
        return await _acknowledged(await _replay(ctx, done.answer), acknowledge), True
    body = await _acknowledged(done.value, acknowledge)
    members = await chats.member_ids(session, chat_id)
    await session.rollback()
    await events.to_users(ctx.infra.hub, members, events.chat_event("new_message", chat_id, message=body))
    await _offline_mail(ctx, chat_id=chat_id, sender_id=sender_id, message_id=body["id"], members=members)
    return body, False


async def _acknowledged(
    body: dict[str, Any], acknowledge: Callable[[dict[str, Any]], Awaitable[None]] | None
) -> dict[str, Any]:
    if acknowledge is not None:
        await acknowledge(body)
    return body


async def _offline_mail(
    ctx: Context, *, chat_id: int, sender_id: int, message_id: int, members: list[int]
) -> None:
    from basis.apps.messenger import mail  # the job module registers its job on import

    try:
        await mail.schedule(ctx, chat_id=chat_id, sender_id=sender_id, message_id=message_id, members=members)
    except Exception as error:  # the message is stored and pushed; a lost mail is only logged
        log.warning("messenger offline mail not scheduled", chat_id=chat_id, error=str(error))


async def edit_message(
    ctx: Context, *, user_id: int, chat_id: int, message_id: int, text: str
) -> dict[str, Any]:
    message = await messages.edit(
        session=ctx.session, chat_id=chat_id, message_id=message_id, user_id=user_id, text=text
    )
    body = views.dump(await views.message_out(ctx.session, ctx.infra.storage, message, ctx.expires))
    await _commit_and_tell(ctx, chat_id, events.chat_event("message_edited", chat_id, message=body))
    return body


async def delete_message(ctx: Context, *, user_id: int, chat_id: int, message_id: int) -> None:
    await messages.delete(session=ctx.session, chat_id=chat_id, message_id=message_id, user_id=user_id)
    await _commit_and_tell(ctx, chat_id, events.chat_event("message_deleted", chat_id, message_id=message_id))


async def _commit_and_tell(ctx: Context, chat_id: int, event: dict[str, Any]) -> None:
    members = await chats.member_ids(ctx.session, chat_id)
    await ctx.session.commit()
    await events.to_users(ctx.infra.hub, members, event)


async def read(ctx: Context, *, user_id: int, chat_id: int, message_id: int) -> ReadOut:
    marker, unread = await messages.mark_read(
        session=ctx.session, chat_id=chat_id, user_id=user_id, message_id=message_id
    )
    event = events.chat_event("read", chat_id, message_id=message_id, user_id=user_id)
    await _commit_and_tell(ctx, chat_id, event)
    return ReadOut(chat_id=chat_id, last_read_message_id=marker, unread_count=unread)


async def delivered(ctx: Context, *, user_id: int, chat_id: int, message_id: int) -> None:
    await messages.mark_delivered(
        session=ctx.session, chat_id=chat_id, user_id=user_id, message_id=message_id
    )
    event = events.chat_event("delivered", chat_id, message_id=message_id, user_id=user_id)
    await _commit_and_tell(ctx, chat_id, event)


async def typing(ctx: Context, *, user_id: int, chat_id: int, is_typing: bool) -> None:
    await chats.require_member(ctx.session, chat_id=chat_id, user_id=user_id)
    others = [uid for uid in await chats.member_ids(ctx.session, chat_id) if uid != user_id]
    await ctx.session.rollback()
    event = events.chat_event("typing", chat_id, user_id=user_id, is_typing=is_typing)
    await events.to_users(ctx.infra.hub, others, event)


async def link(ctx: Context, *, user_id: int, data: Any) -> None:
    """Attach an upload to one's own message afterwards (the original's /attachments/link)."""
    from basis.apps.messenger import exceptions as exc

    message = await ctx.session.get(Message, data.message_id)
    if message is None or message.deleted_at is not None:
        raise exc.message_not_found()
    if message.sender_id != user_id:
        raise exc.not_the_sender()
    await attachments.attach(
        session=ctx.session, storage=ctx.infra.storage, message=message, user_id=user_id, files=[data]
    )
    body = views.dump(await views.message_out(ctx.session, ctx.infra.storage, message, ctx.expires))
    await _commit_and_tell(
        ctx, message.chat_id, events.chat_event("message_edited", message.chat_id, message=body)
    )
