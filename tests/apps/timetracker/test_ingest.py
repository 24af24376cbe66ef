"""The scan writer: batches decide exactly as scans one by one would, concurrent taps in one
process end as one event, long uploads keep their order, and a store that cannot be reached
answers 503 without a half-written batch. The hot routes read their body by hand: their
answers and docs match FastAPI's."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from basis.apps.timetracker.ingest import Outcome, Scan, ScanRequest, ScanWriter, TerminalCtx
from basis.apps.timetracker.service import hash_key
from basis.core.db import Database
from basis.core.errors import BasisError, ServiceUnavailable
from basis.core.time import utcnow
from basis.settings import Settings
from tests.apps.timetracker.conftest import TT, ms


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.resolved_database_url, pool_size=4)
    yield db
    await db.dispose()


async def _door(tt: TT, name: str) -> TerminalCtx:
    terminal_id, key = await tt.terminal(name)
    return TerminalCtx(
        id=terminal_id, name=name, require_signature=False, last_seen_at=None, key_hash=hash_key(key)
    )


@dataclass(frozen=True)
class _Tap:
    person: int
    door: int
    offset_ms: int
    direction: str | None
    client_event_id: str | None


def _taps(rng: random.Random, people: int, count: int) -> list[_Tap]:
    """Scans the way real sites send them: mostly in order, some late (an offline door), double
    taps, device directions now and then, retried client ids with the same or another payload."""
    taps: list[_Tap] = []
    clock = 0
    hour = 3_600_000
    for n in range(count):
        step = rng.choice([0, 1_000, 3_000, 4_999, 5_000, 60_000, hour, 3 * hour, 17 * hour])
        clock += step if clock + step < 90 * hour else 5_000  # all within the last 7 days
        offset = clock - rng.choice([0, 0, 0, 2_000, 7_200_000]) if rng.random() < 0.2 else clock
        direction = rng.choice([None, None, None, None, "IN", "OUT"])
        client_id = f"c{n}" if rng.random() < 0.5 else None
        tap = _Tap(rng.randrange(people), rng.randrange(2), max(offset, 0), direction, client_id)
        taps.append(tap)
        if taps and rng.random() < 0.15:  # a retry: the same payload, or another under that id
            earlier = rng.choice(taps)
            if earlier.client_event_id is not None:
                moved = earlier.offset_ms + (0 if rng.random() < 0.7 else 10_000)
                taps.append(
                    _Tap(earlier.person, earlier.door, moved, earlier.direction, earlier.client_event_id)
                )
    return taps


def _normal(answer: Outcome | BasisError, ids: dict[int, tuple[int, int]]) -> tuple[Any, ...]:
    if isinstance(answer, BasisError):
        return ("refused", answer.code)
    r = answer.result
    return (r.status, r.direction, bool(r.replayed), ids.get(r.event_id), r.ts)


async def _events(tt: TT, employee_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Event id -> (person index, ts) for every stored event of these employees."""
    found = {}
    for index, employee_id in enumerate(employee_ids):
        for event in await tt.events(employee_id):
            found[event["id"]] = (index, event["ts"])
    return found


async def _history(tt: TT, employee_ids: list[int]) -> list[list[tuple[str, str, str]]]:
    return [
        [(e["ts"], e["direction"], e["direction_source"]) for e in await tt.events(employee_id)]
        for employee_id in employee_ids
    ]


@pytest.mark.parametrize("seed", range(6))
async def test_a_batch_decides_like_the_same_scans_one_by_one(
    tt: TT, database: Database, settings: Settings, seed: int
) -> None:
    rng = random.Random(seed)
    taps = _taps(rng, people=3, count=30)
    start = utcnow() - dt.timedelta(days=5)
    results = {}
    for mode in ("together", "one by one"):
        people = [await tt.employee() for _ in range(3)]
        doors = [await _door(tt, f"{mode} {seed} door {i}") for i in range(2)]
        scans = [
            Scan(
                doors[t.door],
                ScanRequest(
                    people[t.person]["nfc_uid"], t.direction, ms(start) + t.offset_ms, t.client_event_id
                ),
            )
            for t in taps
        ]
        writer = ScanWriter(database, settings)
        try:
            if mode == "together":
                answers = await writer.submit(scans)
            else:
                answers = [answer for scan in scans for answer in await writer.submit([scan])]
        finally:
            await writer.close()
        ids = [p["id"] for p in people]
        results[mode] = ([_normal(a, await _events(tt, ids)) for a in answers], await _history(tt, ids))
    assert results["together"] == results["one by one"]
    statuses = {answer[0] for answer in results["together"][0]}
    assert "accepted" in statuses and "duplicate" in statuses


async def test_taps_racing_in_one_process_end_as_one_event_each(tt: TT) -> None:
    people = [await tt.employee() for _ in range(16)]
    keys = [(await tt.terminal())[1] for _ in range(4)]
    t0 = utcnow() - dt.timedelta(minutes=30)
    taps = [
        tt.scan(keys[door], person["nfc_uid"], t0 + dt.timedelta(milliseconds=50 * door))
        for person in people
        for door in range(4)
    ]
    answers = [response.json() for response in await asyncio.gather(*taps)]
    for number, person in enumerate(people):
        mine = answers[4 * number : 4 * number + 4]
        assert sorted(a["status"] for a in mine) == ["accepted", "duplicate", "duplicate", "duplicate"]
        assert len({a["event_id"] for a in mine}) == 1
        assert [e["direction"] for e in await tt.events(person["id"])] == ["IN"]


async def test_an_upload_longer_than_a_batch_keeps_its_order(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    start = utcnow() - dt.timedelta(days=3)
    scans = [
        {
            "uid": employee["nfc_uid"],
            "ts": ms(start + dt.timedelta(minutes=10 * i)),
            "client_event_id": f"u{i}",
        }
        for i in range(300)
    ]
    random.Random(3).shuffle(scans)
    response = await tt.client.post(
        "/api/terminal/scans", json={"scans": scans}, headers={"X-Terminal-Key": key}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert all(r["status"] == "accepted" for r in results)
    events = await tt.events(employee["id"])
    # Ten minutes apart, each closes the IN before it: IN, OUT, IN, OUT... in ts order.
    assert [e["direction"] for e in events] == ["IN", "OUT"] * 150
    by_id = {r["event_id"]: r["direction"] for r in results}
    assert [by_id[e["id"]] for e in events] == ["IN", "OUT"] * 150


async def test_a_store_that_cannot_be_reached_answers_503(tt: TT, settings: Settings) -> None:
    employee = await tt.employee()
    door = await _door(tt, "Door to nowhere")
    unreachable = Database("postgresql+psycopg://basis@127.0.0.1:1/nowhere", pool_size=1)
    writer = ScanWriter(unreachable, settings)
    try:
        with pytest.raises(ServiceUnavailable) as refused:
            await writer.submit([Scan(door, ScanRequest(employee["nfc_uid"], None, None, None))])
        assert refused.value.code == "scan_not_stored"
    finally:
        await writer.close()
        await unreachable.dispose()
    assert await tt.events(employee["id"]) == []


async def test_one_client_event_id_at_two_writers_is_stored_once(
    tt: TT, database: Database, settings: Settings
) -> None:
    """Two processes (two writers, two pools) get the same buffered scan at the same moment."""
    other = Database(settings.resolved_database_url, pool_size=4)
    writers = [ScanWriter(database, settings), ScanWriter(other, settings)]
    people = [await tt.employee() for _ in range(6)]
    door = await _door(tt, "Shared door")
    ts = ms(utcnow() - dt.timedelta(minutes=5))
    try:
        rounds = [
            asyncio.gather(
                *(
                    w.submit([Scan(door, ScanRequest(p["nfc_uid"], None, ts, f"buf-{p['id']}"))])
                    for w in writers
                )
            )
            for p in people
        ]
        for person, (first, second) in zip(people, await asyncio.gather(*rounds), strict=True):
            answers = [first[0], second[0]]
            assert all(isinstance(a, Outcome) for a in answers), answers
            results = [a.result for a in answers if isinstance(a, Outcome)]
            assert results[0].event_id == results[1].event_id
            assert sorted(bool(r.replayed) for r in results) == [False, True]
            assert len(await tt.events(person["id"])) == 1
    finally:
        for writer in writers:
            await writer.close()
        await other.dispose()


async def test_one_client_event_id_for_two_cards_at_two_writers_is_a_conflict(
    tt: TT, database: Database, settings: Settings
) -> None:
    """The unique (terminal, client_event_id) decides when two processes store one id for two
    cards at once: one scan is stored, the other is refused as a conflict, never stored."""
    other = Database(settings.resolved_database_url, pool_size=4)
    writers = [ScanWriter(database, settings), ScanWriter(other, settings)]
    door = await _door(tt, "Confused door")
    ts = ms(utcnow() - dt.timedelta(minutes=5))
    try:
        for n in range(4):
            people = [await tt.employee(), await tt.employee()]
            first, second = await asyncio.gather(
                *(
                    writer.submit([Scan(door, ScanRequest(person["nfc_uid"], None, ts, f"same-{n}"))])
                    for writer, person in zip(writers, people, strict=True)
                )
            )
            answers = [first[0], second[0]]
            codes = sorted("accepted" if isinstance(a, Outcome) else a.code for a in answers)
            assert codes == ["accepted", "idempotency_conflict"], answers
            stored = [len(await tt.events(person["id"])) for person in people]
            assert sorted(stored) == [0, 1]
    finally:
        for writer in writers:
            await writer.close()
        await other.dispose()


async def test_a_remembered_key_never_outlives_its_terminal(tt: TT) -> None:
    """The scan routes remember keys; a rotation or deactivation since still refuses the
    whole call, an upload included, and a kept duplicate answer is not replayed any more."""
    employee = await tt.employee()
    terminal_id, key = await tt.terminal()
    t0 = utcnow() - dt.timedelta(minutes=30)
    assert (await tt.scan(key, employee["nfc_uid"], t0)).json()["status"] == "accepted"
    duplicate = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(seconds=2), client_event_id="d1")
    assert duplicate.json()["status"] == "duplicate"
    replay = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(seconds=2), client_event_id="d1")
    assert replay.json() == {**duplicate.json(), "replayed": True}

    await tt.client.patch(f"/api/terminals/{terminal_id}", json={"is_active": False}, headers=tt.admin)
    refused = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(seconds=2), client_event_id="d1")
    assert refused.status_code == 403 and refused.json()["code"] == "terminal_inactive"
    await tt.client.patch(f"/api/terminals/{terminal_id}", json={"is_active": True}, headers=tt.admin)
    assert (await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(minutes=1))).status_code == 200

    rotated = await tt.client.post(f"/api/terminals/{terminal_id}/rotate-key", headers=tt.admin)
    upload = {"scans": [{"uid": employee["nfc_uid"], "ts": ms(t0 + dt.timedelta(minutes=2))}]}
    old = await tt.client.post("/api/terminal/scans", json=upload, headers={"X-Terminal-Key": key})
    assert old.status_code == 401 and old.json()["code"] == "unknown_terminal"
    new = await tt.client.post(
        "/api/terminal/scans", json=upload, headers={"X-Terminal-Key": rotated.json()["api_key"]}
    )
    assert new.status_code == 200 and new.json()["results"][0]["status"] == "accepted"
    assert len(await tt.events(employee["id"])) == 3


# ------------------------------------------------------------------ the hand-read scan body


async def test_scan_bodies_are_refused_as_fastapi_would(tt: TT) -> None:
    _, key = await tt.terminal()
    headers = {"X-Terminal-Key": key}

    async def post(content: bytes, content_type: str | None = "application/json", **extra: str) -> Any:
        sent = (
            {**headers, **extra}
            if content_type is None
            else {**headers, "content-type": content_type, **extra}
        )
        return await tt.client.post("/api/terminal/scan", content=content, headers=sent)

    missing = await post(b"")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body"] and missing.json()["code"] == "validation_error"
    broken = await post(b'{"uid":')
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"
    no_uid = await post(b"{}")
    assert no_uid.status_code == 422 and no_uid.json()["detail"][0]["loc"] == ["body", "uid"]
    bad_ts = await post(b'{"uid": "AA", "ts": "soon"}')
    assert bad_ts.status_code == 422 and bad_ts.json()["detail"][0]["loc"] == ["body", "ts"]
    not_json = await post(b'{"uid": "AA"}', "text/plain")
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["loc"] == ["body"]
    not_a_list = await tt.client.post("/api/terminal/scans", json={"scans": 5}, headers=headers)
    assert not_a_list.status_code == 422 and not_a_list.json()["detail"][0]["loc"] == ["body", "scans"]
    # Who is calling is settled first: without a key, even a broken body is a 401.
    anonymous = await tt.client.post(
        "/api/terminal/scan", content=b'{"uid":', headers={"content-type": "application/json"}
    )
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unknown_terminal"


async def test_scan_routes_document_their_body_and_key(tt: TT) -> None:
    spec = (await tt.client.get("/openapi.json")).json()
    for path, field in (("/api/terminal/scan", "uid"), ("/api/terminal/scans", "scans")):
        operation = spec["paths"][path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert field in schema["properties"] and field in schema["required"]
        assert {"name": "X-Terminal-Key", "in": "header"}.items() <= operation["parameters"][0].items()
        assert set(operation["responses"]) >= {"200", "401", "403", "422"}
