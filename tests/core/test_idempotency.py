"""The core's store-and-replay, on a table of the test app's own (scoped by sender alone)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.errors import BasisError, Conflict
from basis.core.idempotency import Answer, IdempotencyStore, fingerprint, run_once, validate_key
from tests.example_app.models import ExampleKey, ExampleNote

KEYS = IdempotencyStore(ExampleKey, scope=("sender",))


async def _note(session: AsyncSession, text: str) -> ExampleNote:
    note = ExampleNote(text=text)
    session.add(note)
    await session.flush()
    return note


async def _send(session: AsyncSession, *, sender: int, key: str | None, text: str) -> Answer:
    done = await run_once(
        session,
        KEYS,
        scope={"sender": sender},
        key=key,
        payload={"text": text},
        work=lambda: _note(session, text),
        answer=_created,
    )
    return done.answer


def _created(note: ExampleNote) -> Answer:
    return Answer(201, {"id": note.id, "text": note.text})


async def _notes(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(ExampleNote)) or 0


async def test_a_key_does_the_work_once_and_replays_its_answer(session: AsyncSession) -> None:
    first = await _send(session, sender=1, key="temp-1", text="hello")
    again = await _send(session, sender=1, key="temp-1", text="hello")
    assert first.status == 201 and not first.replayed
    assert again == Answer(201, first.body, replayed=True)
    assert await _notes(session) == 1


async def test_the_scope_separates_equal_keys(session: AsyncSession) -> None:
    one = await _send(session, sender=1, key="temp-1", text="hello")
    two = await _send(session, sender=2, key="temp-1", text="hello")
    assert not two.replayed and two.body["id"] != one.body["id"]
    assert await _notes(session) == 2


async def test_the_same_key_with_another_request_is_a_conflict(session: AsyncSession) -> None:
    await _send(session, sender=1, key="temp-1", text="hello")
    with pytest.raises(Conflict) as raised:
        await _send(session, sender=1, key="temp-1", text="other words")
    assert raised.value.code == "idempotency_conflict"
    assert await _notes(session) == 1


async def test_without_a_key_every_call_does_the_work(session: AsyncSession) -> None:
    await _send(session, sender=1, key=None, text="hello")
    await _send(session, sender=1, key=None, text="hello")
    assert await _notes(session) == 2


async def test_a_refusal_is_stored_and_replayed_like_an_answer(session: AsyncSession) -> None:
    async def refuse() -> ExampleNote:
        await _note(session, "written, then undone")
        raise Conflict("Not now", code="not_now")

    async def call() -> Answer:
        done = await run_once(
            session, KEYS, scope={"sender": 3}, key="k", payload={}, work=refuse, answer=_created
        )
        return done.answer

    with pytest.raises(BasisError):
        await call()
    replay = await call()
    assert replay == Answer(409, {"detail": "Not now", "code": "not_now"}, replayed=True)


async def test_old_keys_are_purged(session: AsyncSession) -> None:
    await _send(session, sender=1, key="temp-1", text="hello")
    assert await KEYS.purge(session, older_than_days=1) == 0
    assert await KEYS.purge(session, older_than_days=-1) == 1
    assert not (await _send(session, sender=1, key="temp-1", text="hello")).replayed


def test_keys_are_printable_ascii_and_fingerprints_ignore_key_order() -> None:
    assert validate_key("abc-123") == "abc-123"
    for bad in ("", "a b", "é", "x" * 201):
        with pytest.raises(BasisError):
            validate_key(bad)
    assert fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
