"""What a user does that others see at once: each step stores, commits, then publishes.
REST and the socket both call these, so the two behave alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from basis.apps.messenger import attachments, chats, events, mail, messages, views
from basis.apps.messenger.models import Message, SendKey
from basis.apps.messenger.presence import Presence
from basis.apps.messenger.schemas import MessageCreate, ReadOut
from basis.apps.messenger.settings import MessengerSettings
from basis.core.errors import BasisError, ServiceUnavailable, TooManyRequests
from basis.core.idempotency import Answer, IdempotencyStore, run_once
from basis.core.infra import Infra
from basis.core.logging import get_logger
from basis.core.outage import HANDLED, OUTAGES
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


class _RateRefused(Exception):
    """Not a BasisError: the idempotency store must not keep this refusal for the temp_id."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


class _NotKept(Exception):
    """A refusal (not a member, no such chat) the temp_id must not remember: the sender may be
    added later and retry with the same temp_id."""

    def __init__(self, error: BasisError) -> None:
        super().__init__(str(error))
        self.error = error


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
    before anyone is told: a sending socket hears its ACK before its own ``new_message``.

    The hot path is one transaction of five statements (claim the temp_id, read the roster,
    insert the message, stage the offline mail if due, store the answer) plus the rate limiter
    and one presence look-up; nothing is read twice and nothing waits."""
    session = ctx.session
    if data.attachments:
        await chats.require_member(session, chat_id=chat_id, user_id=sender_id)
        await attachments.check(
            session=session, storage=ctx.infra.storage, user_id=sender_id, files=data.attachments
        )
        await session.rollback()  # reads done: the claim and the work run in one fresh transaction
    members: list[int] = []

    async def work() -> dict[str, Any]:
        try:
            roster = await chats.roster(session, chat_id=chat_id, user_id=sender_id)
        except BasisError as error:
            raise _NotKept(error) from None
        # Counted only once the temp_id is claimed: a concurrent repeat waits for the claim and
        # replays, costing nothing; a refusal leaves the temp_id unused for a later retry.
        result = await ctx.infra.limiter.hit(ctx.app.send_limit, "messenger.send", str(sender_id))
        if not result.allowed:
            raise _RateRefused(result.retry_after)
        message = await messages.store(
            session=session,
            chat_id=chat_id,
            sender_id=sender_id,
            text=data.text,
            temp_id=data.temp_id,
            member_checked=True,
        )
        if data.attachments:
            await attachments.attach(
                session=session,
                storage=ctx.infra.storage,
                message=message,
                user_id=sender_id,
                files=data.attachments,
            )
            out = await views.message_out(session, ctx.infra.storage, message, ctx.expires)
        else:
            out = views.new_message_out(message)
        # Staged in this transaction: the mail is due exactly when the message is durable. The
        # presence look-up needs Redis: while it is away the send is refused (503), not stored.
        await mail.stage(ctx, chat_id=chat_id, sender_id=sender_id, message_id=message.id, roster=roster)
        members[:] = [uid for uid, _ in roster]
        return views.dump(out)

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
    except _NotKept as refused:
        await session.rollback()
        raise refused.error from None
    if done.value is None:
        return await _acknowledged(await _replay(ctx, done.answer), acknowledge), True
    body = await _acknowledged(done.value, acknowledge)
    await _tell(ctx, members, events.chat_event("new_message", chat_id, message=body))
    return body, False


async def _tell(ctx: Context, members: list[int], event: dict[str, Any]) -> None:
    """Publish after the commit: the change is durable and acknowledged whatever happens here.
    Redis away now means the others catch up on reconnect (``after_id``); the outage is
    counted, the answer stays a success."""
    try:
        await events.to_users(ctx.infra.hub, members, event)
    except HANDLED as error:
        OUTAGES.failed(error, f"messenger {event['type']}")
    except ServiceUnavailable as error:  # the hub's own refusal (realtime_unavailable)
        OUTAGES.failed(ConnectionError(str(error.detail)), f"messenger {event['type']}")


async def _acknowledged(
    body: dict[str, Any], acknowledge: Callable[[dict[str, Any]], Awaitable[None]] | None
) -> dict[str, Any]:
    if acknowledge is not None:
        await acknowledge(body)
    return body


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
    await _tell(ctx, members, event)


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
