"""The scan writer: batches decide exactly as scans one by one would, concurrent taps in one
process end as one event, long uploads keep their order, and a store that cannot be reached
answers 503 without a half-written batch. The hot routes read their body by hand: their
answers and docs match FastAPI's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from basis.apps.timetracker.ingest import Outcome, Scan, ScanRequest, TerminalCtx
from basis.apps.timetracker.keys import hash_key
from basis.apps.timetracker.scan_writer import ScanWriter
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


async def _alone(writer: ScanWriter, scan: Scan, kept: dict[tuple[int, str], str]) -> Outcome | BasisError:
    """One scan as a request sends it: with the answer kept for its client id when it was a
    duplicate before (what the scan routes look up in the key-value store)."""
    key = (scan.terminal.id, scan.req.client_event_id or "")
    scan.kept = kept.get(key) if scan.req.client_event_id is not None else None
    [answer] = await writer.submit([scan])
    if isinstance(answer, Outcome) and answer.kept is not None:
        kept[key] = answer.kept
    return answer


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
                answers = [await _alone(writer, scan, kept) for kept in [{}] for scan in scans]
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
        [answer] = await writer.submit([Scan(door, ScanRequest(employee["nfc_uid"], None, None, None))])
        assert isinstance(answer, ServiceUnavailable) and answer.code == "scan_not_stored"
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


async def test_a_replay_after_a_late_scan_answers_with_the_direction_now(
    tt: TT, database: Database, settings: Settings
) -> None:
    """A late scan re-derives a stored OUT into an IN; a retry of that OUT in the same batch
    answers IN, as it would one by one."""
    t0 = ms(utcnow() - dt.timedelta(days=1))
    answers = {}
    for mode in ("one by one", "together"):
        uid = (await tt.employee())["nfc_uid"]
        door = await _door(tt, f"Flip {mode}")
        writer = ScanWriter(database, settings)
        try:
            await writer.submit([Scan(door, ScanRequest(uid, None, t0, None))])  # IN
            await writer.submit([Scan(door, ScanRequest(uid, None, t0 + 3_600_000, "e"))])  # OUT
            late = [
                Scan(door, ScanRequest(uid, None, t0 + 1_800_000, None)),  # lands between: OUT...
                Scan(door, ScanRequest(uid, None, t0 + 3_600_000, "e")),  # ...so "e" is now an IN
            ]
            if mode == "together":
                decided = await writer.submit(late)
            else:
                decided = [answer for scan in late for answer in await writer.submit([scan])]
        finally:
            await writer.close()
        answers[mode] = [(a.result.direction, a.result.replayed) for a in decided if isinstance(a, Outcome)]
    assert answers["together"] == answers["one by one"] == [("OUT", None), ("IN", True)]


async def test_one_upload_retrying_a_duplicate_gets_its_answer_or_a_conflict(tt: TT) -> None:
    """Within one upload (one batch), a client id first answered duplicate is kept as later
    calls would find it: the same payload again is its replay, another payload a 409."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = ms(utcnow() - dt.timedelta(hours=3))
    scans = [
        {"uid": employee["nfc_uid"], "ts": t0, "client_event_id": "a"},
        {"uid": employee["nfc_uid"], "ts": t0 + 2_000, "client_event_id": "b"},  # duplicate of "a"
        {"uid": employee["nfc_uid"], "ts": t0 + 2_000, "client_event_id": "b"},  # its replay
        {"uid": employee["nfc_uid"], "ts": t0 + 60_000, "client_event_id": "b"},  # reused: conflict
    ]
    response = await tt.client.post(
        "/api/terminal/scans", json={"scans": scans}, headers={"X-Terminal-Key": key}
    )
    results = response.json()["results"]
    assert [(r["http_status"], r.get("status"), r.get("replayed")) for r in results] == [
        (200, "accepted", None),
        (200, "duplicate", None),
        (200, "duplicate", True),
        (409, None, None),
    ]
    assert results[2]["event_id"] == results[1]["event_id"] == results[0]["event_id"]
    assert len(await tt.events(employee["id"])) == 1


async def test_client_event_ids_differing_in_case_or_spaces_are_two_ids(tt: TT) -> None:
    """MariaDB's default collation would make these one id to the unique index."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    t0 = utcnow() - dt.timedelta(hours=5)
    ids = ["tap-1", "TAP-1", "tap-1 "]
    for n, client_id in enumerate(ids):
        answer = await tt.scan(
            key, employee["nfc_uid"], t0 + dt.timedelta(hours=n), client_event_id=client_id
        )
        assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
    events = await tt.events(employee["id"])
    assert sorted(e["client_event_id"] for e in events) == sorted(ids)
    again = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(hours=1), client_event_id="TAP-1")
    assert again.json()["replayed"] is True and again.json()["event_id"] == events[1]["id"]


async def test_a_stuck_lock_on_one_employee_holds_up_no_one_else(
    tt: TT, database: Database, settings: Settings, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite locks the whole file for one writer: no employee row lock to wait for")
    from basis.apps.timetracker import ingest

    monkeypatch.setattr(ingest, "LOCK_TIMEOUT_SECONDS", 1)
    stuck, free = await tt.employee(), await tt.employee()
    door = await _door(tt, "Busy door")
    writer = ScanWriter(database, settings)
    holder = Database(settings.resolved_database_url, pool_size=1)
    try:
        async with holder.engine.connect() as conn, conn.begin():
            await conn.exec_driver_sql(f"SELECT id FROM employees WHERE id = {stuck['id']} FOR UPDATE")
            started = asyncio.get_running_loop().time()
            blocked = asyncio.ensure_future(
                writer.submit([Scan(door, ScanRequest(stuck["nfc_uid"], None, None, None))])
            )
            [answer] = await writer.submit([Scan(door, ScanRequest(free["nfc_uid"], None, None, None))])
            assert isinstance(answer, Outcome) and answer.result.status == "accepted"
            [refused] = await blocked
            assert isinstance(refused, ServiceUnavailable) and refused.code == "scan_not_stored"
            assert asyncio.get_running_loop().time() - started < 10
    finally:
        await writer.close()
        await holder.dispose()
    assert await tt.events(stuck["id"]) == [] and len(await tt.events(free["id"])) == 1


async def test_a_restarted_database_costs_no_scan(
    tt: TT, database: Database, settings: Settings, backend: str
) -> None:
    """The writer's pooled connection is cut (a restart, a failover): the next batch reconnects."""
    if backend == "sqlite":
        pytest.skip("no server to restart: SQLite is a file")
    employee = await tt.employee()
    door = await _door(tt, "Reconnecting door")
    writer = ScanWriter(database, settings)
    admin = Database(settings.resolved_database_url, pool_size=1)
    mine = "SELECT pg_backend_pid()" if backend == "postgresql" else "SELECT CONNECTION_ID()"
    cut = "SELECT pg_terminate_backend({})" if backend == "postgresql" else "KILL {}"
    try:
        await writer.submit([Scan(door, ScanRequest(employee["nfc_uid"], None, None, None))])
        async with database.engine.connect() as conn:  # the connection the writer used
            pid = int((await conn.exec_driver_sql(mine)).scalar_one())
        async with admin.engine.connect() as conn:
            await conn.exec_driver_sql(cut.format(pid))
        later = ms(utcnow() + dt.timedelta(seconds=30))
        [answer] = await writer.submit([Scan(door, ScanRequest(employee["nfc_uid"], None, later, None))])
        assert isinstance(answer, Outcome) and answer.result.status == "accepted", answer
    finally:
        await writer.close()
        await admin.dispose()
    assert len(await tt.events(employee["id"])) == 2


async def test_a_remembered_key_gets_no_answer_the_database_would_refuse(tt: TT) -> None:
    """Paths that never reach the writer (an empty upload, a malformed body or item, another
    terminal's id) ask the database about a remembered key."""
    employee = await tt.employee()
    t0 = utcnow() - dt.timedelta(hours=1)
    calls: list[tuple[str, dict[str, Any] | bytes]] = [
        ("/api/terminal/scans", {"scans": []}),
        ("/api/terminal/scans", {"scans": [{"ts": "soon"}]}),
        ("/api/terminal/scans", {"scans": [{"uid": "AA", "terminal_id": 2_000_000}]}),
        ("/api/terminal/scan", {"uid": "not hex!"}),
        ("/api/terminal/scan", {"uid": "AA", "terminal_id": 2_000_000}),
        ("/api/terminal/scan", b"{"),
    ]
    for change, status, code in (
        ({"is_active": False}, 403, "terminal_inactive"),
        (None, 401, "unknown_terminal"),
    ):
        for n, (path, body) in enumerate(calls):
            terminal_id, key = await tt.terminal()
            remembered = await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(minutes=n))
            assert remembered.status_code == 200
            if change is None:
                await tt.client.post(f"/api/terminals/{terminal_id}/rotate-key", headers=tt.admin)
            else:
                await tt.client.patch(f"/api/terminals/{terminal_id}", json=change, headers=tt.admin)
            headers = {"X-Terminal-Key": key, "content-type": "application/json"}
            sent = body if isinstance(body, bytes) else json.dumps(body).encode()
            refused = await tt.client.post(path, content=sent, headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (status, code), (path, body)
            # Forgotten at once: the next call is refused before anything is read.
            assert (await tt.scan(key, employee["nfc_uid"])).status_code == status


async def test_the_live_feed_of_one_process_gets_accepted_scans_only(tt: TT) -> None:
    from basis.apps.timetracker.terminal import SCAN_TOPIC

    employee = await tt.employee(full_name="Feed Reader")
    _, key = await tt.terminal("Feed door")
    hub = tt.client.app.state.infra.hub  # type: ignore[attr-defined]
    t0 = utcnow() - dt.timedelta(minutes=10)
    assert (await tt.scan(key, employee["nfc_uid"], t0)).status_code == 200  # nobody listens yet
    async with hub.subscribe(SCAN_TOPIC) as feed:
        accepted = (await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(minutes=5))).json()
        assert (await tt.scan(key, employee["nfc_uid"], t0 + dt.timedelta(minutes=5, seconds=1))).json()[
            "status"
        ] == "duplicate"
        assert (await tt.scan(key, "FFFF0001")).status_code == 404
        message = await feed.get(timeout=2)
        assert message["event"]["id"] == accepted["event_id"] and message["event"]["direction"] == "OUT"
        assert message["event"]["terminal_name"] == "Feed door"
        assert message["employee"] == {"id": employee["id"], "full_name": "Feed Reader"}
        with pytest.raises(TimeoutError):
            await feed.get(timeout=0.3)


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
    scheme = spec["components"]["securitySchemes"]["TerminalKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Terminal-Key"}
    for path, field in (
        ("/api/terminal/scan", "uid"),
        ("/api/terminal/scans", "scans"),
        ("/api/nfc", "nfc_uid"),
    ):
        operation = spec["paths"][path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert field in schema["properties"] and field in schema["required"]
        assert operation["security"] == [{"TerminalKey": []}]
        assert set(operation["responses"]) >= {"200", "401", "403", "422", "429", "503"}
