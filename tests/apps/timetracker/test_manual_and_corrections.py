"""Manual events (R9: local times, DST gaps and repeated hours, overlaps) and corrections with
a reason, soft delete and audit."""

from __future__ import annotations

import datetime as dt

from tests.apps.timetracker.conftest import TT


async def _day(tt: TT, employee_id: int, day: str) -> dict:  # type: ignore[type-arg]
    return (await tt.daily(employee_id, day, day))["items"][0]


async def test_naive_time_is_the_employee_local_time(tt: TT) -> None:
    warsaw = await tt.employee()
    new_york = await tt.employee(timezone="America/New_York")
    a = await tt.manual(warsaw["id"], "2026-10-20T08:00:00", "in", comment="card forgotten at home")
    assert a.status_code == 201, a.text
    assert a.json()["ts"].startswith("2026-10-20T06:00:00")
    assert a.json()["direction"] == "IN" and a.json()["direction_source"] == "manual"
    assert a.json()["is_manual"] is True and a.json()["terminal_id"] is None
    b = await tt.manual(new_york["id"], "2026-10-20T08:00:00", "IN")
    assert b.json()["ts"].startswith("2026-10-20T12:00:00")
    exact = await tt.manual(warsaw["id"], "2026-10-21T08:00:00Z", "IN")
    assert exact.json()["ts"].startswith("2026-10-21T08:00:00")
    offset = await tt.manual(new_york["id"], "2026-10-21T08:00:00+02:00", "IN")
    assert offset.json()["ts"].startswith("2026-10-21T06:00:00")


async def test_time_in_the_spring_gap_is_422(tt: TT) -> None:
    employee = await tt.employee()
    response = await tt.manual(employee["id"], "2026-03-29T02:30:00", "IN")
    assert response.status_code == 422 and response.json()["code"] == "nonexistent_local_time"
    assert await tt.events(employee["id"]) == []


async def test_time_in_the_repeated_hour_needs_an_offset(tt: TT) -> None:
    employee = await tt.employee()
    ambiguous = await tt.manual(employee["id"], "2026-10-25T02:30:00", "OUT")
    assert ambiguous.status_code == 422 and ambiguous.json()["code"] == "ambiguous_local_time"
    first = await tt.manual(employee["id"], "2026-10-25T02:30:00+02:00", "IN")
    second = await tt.manual(employee["id"], "2026-10-25T02:30:00+01:00", "OUT")
    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["ts"].startswith("2026-10-25T00:30:00")
    assert second.json()["ts"].startswith("2026-10-25T01:30:00")
    day = await _day(tt, employee["id"], "2026-10-25")
    assert day["worked_seconds"] == 3600  # the same wall-clock time twice, one real hour apart


async def test_manual_event_input_errors(tt: TT) -> None:
    employee = await tt.employee()
    no_comment = await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN", comment="  ")
    assert no_comment.status_code == 422
    missing = await tt.client.post(
        "/api/events/manual",
        json={"employee_id": employee["id"], "timestamp": "2026-10-20T08:00", "direction": "IN"},
        headers=tt.admin,
    )
    assert missing.status_code == 422
    assert (await tt.manual(employee["id"], "2026-10-20T08:00:00", "sideways")).status_code == 422
    assert (await tt.manual(employee["id"], "yesterday at eight", "IN")).json()["code"] == "invalid_datetime"
    assert (await tt.manual(999_999, "2026-10-20T08:00:00", "IN")).status_code == 404
    unknown_terminal = await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN", terminal_id=999_999)
    assert unknown_terminal.status_code == 404
    future = await tt.manual(employee["id"], "2099-01-01T08:00:00Z", "IN")
    assert future.status_code == 422 and future.json()["code"] == "future_timestamp"
    assert await tt.events(employee["id"]) == []


async def test_manual_events_are_for_staff(tt: TT) -> None:
    employee = await tt.employee()
    user = await tt.headers("user")
    assert (await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN", headers=user)).status_code == 403
    assert (await tt.client.post("/api/events/manual", json={})).status_code == 401
    operator = await tt.headers("operator")
    done = await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN", headers=operator)
    assert done.status_code == 201 and done.json()["created_by"] is not None


async def test_forgotten_check_out_is_fixed_with_a_manual_out(tt: TT) -> None:
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN")
    before = await _day(tt, employee["id"], "2026-10-20")
    assert before["worked_seconds"] == 0
    assert [a["code"] for a in before["anomalies"]] == ["MISSING_OUT"]
    fixed = await tt.manual(employee["id"], "2026-10-20T16:30:00", "OUT", comment="left without scanning")
    assert fixed.status_code == 201
    after = await _day(tt, employee["id"], "2026-10-20")
    assert after["worked_seconds"] == 8 * 3600 + 1800 and after["anomalies"] == []
    assert after["first_in_local"] == "08:00:00" and after["last_out_local"] == "16:30:00"


async def test_manual_event_inside_an_interval_is_an_overlap(tt: TT) -> None:
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN")
    await tt.manual(employee["id"], "2026-10-20T16:00:00", "OUT")
    for timestamp, direction in [
        ("2026-10-20T10:00:00", "IN"),
        ("2026-10-20T12:00:00", "OUT"),
        ("2026-10-20T08:00:00", "IN"),
        ("2026-10-20T07:00:00", "OUT"),
    ]:
        response = await tt.manual(employee["id"], timestamp, direction)
        if direction == "OUT" and timestamp.endswith("07:00:00"):
            assert response.status_code == 201, response.text  # an orphan OUT before the shift breaks nothing
            continue
        assert response.status_code == 409, (timestamp, response.text)
        assert response.json()["code"] == "overlap"
    later = await tt.manual(employee["id"], "2026-10-20T18:00:00", "IN")
    assert later.status_code == 201


async def test_manual_in_that_would_regroup_scans_is_an_overlap(tt: TT) -> None:
    """Derived scans 08:00/16:00 form a shift; an IN at 07:00 would pair 07-08 and leave 16:00
    open: refused instead of silently rewriting the day."""
    employee = await tt.employee()
    _, key = await tt.terminal()
    from basis.core.time import utcnow

    base = (utcnow() - dt.timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)
    await tt.scan(key, employee["nfc_uid"], base)
    await tt.scan(key, employee["nfc_uid"], base + dt.timedelta(hours=8))
    earlier = (base - dt.timedelta(hours=1)).isoformat()
    response = await tt.manual(employee["id"], earlier, "IN")
    assert response.status_code == 409 and response.json()["code"] == "overlap"
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN", "OUT"]


async def test_correction_needs_a_reason_and_is_audited(tt: TT) -> None:
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN")
    out = (await tt.manual(employee["id"], "2026-10-20T16:00:00", "OUT")).json()
    no_reason = await tt.client.patch(
        f"/api/events/{out['id']}", json={"timestamp": "2026-10-20T17:00:00"}, headers=tt.admin
    )
    assert no_reason.status_code == 422
    blank = await tt.client.patch(
        f"/api/events/{out['id']}", json={"timestamp": "2026-10-20T17:00:00", "reason": " "}, headers=tt.admin
    )
    assert blank.status_code == 422
    operator = await tt.headers("operator")
    moved = await tt.client.patch(
        f"/api/events/{out['id']}",
        json={"timestamp": "2026-10-20T17:00:00", "reason": "stayed for inventory"},
        headers=operator,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["ts"].startswith("2026-10-20T15:00:00")
    assert (await _day(tt, employee["id"], "2026-10-20"))["worked_seconds"] == 9 * 3600
    audit = (
        await tt.client.get(
            "/api/audit", params={"entity": "event", "entity_id": out["id"]}, headers=tt.admin
        )
    ).json()["items"]
    update = next(entry for entry in audit if entry["action"] == "update")
    assert update["reason"] == "stayed for inventory"
    assert update["before"]["ts"].startswith("2026-10-20T14:00:00")
    assert update["after"]["ts"].startswith("2026-10-20T15:00:00")


async def test_correction_into_another_interval_is_an_overlap(tt: TT) -> None:
    employee = await tt.employee()
    await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN")
    await tt.manual(employee["id"], "2026-10-20T12:00:00", "OUT")
    second_in = (await tt.manual(employee["id"], "2026-10-20T13:00:00", "IN")).json()
    await tt.manual(employee["id"], "2026-10-20T17:00:00", "OUT")
    response = await tt.client.patch(
        f"/api/events/{second_in['id']}",
        json={"timestamp": "2026-10-20T11:00:00", "reason": "typo"},
        headers=tt.admin,
    )
    assert response.status_code == 409 and response.json()["code"] == "overlap"
    flipped = await tt.client.patch(
        f"/api/events/{second_in['id']}",
        json={"direction": "out", "reason": "was a check-out"},
        headers=tt.admin,
    )
    assert flipped.status_code == 200 and flipped.json()["direction"] == "OUT"


async def test_delete_is_soft_needs_a_reason_and_totals_follow(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    from basis.core.time import utcnow

    base = (utcnow() - dt.timedelta(days=2)).replace(hour=6, minute=0, second=0, microsecond=0)
    first = (await tt.scan(key, employee["nfc_uid"], base)).json()
    await tt.scan(key, employee["nfc_uid"], base + dt.timedelta(hours=8))
    await tt.scan(key, employee["nfc_uid"], base + dt.timedelta(hours=9))
    assert [e["direction"] for e in await tt.events(employee["id"])] == ["IN", "OUT", "IN"]
    no_reason = await tt.client.delete(f"/api/events/{first['event_id']}", headers=tt.admin)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    deleted = await tt.client.delete(
        f"/api/events/{first['event_id']}", params={"reason": "tested the reader"}, headers=tt.admin
    )
    assert deleted.status_code == 200 and deleted.json()["deleted_at"] is not None
    assert deleted.json()["delete_reason"] == "tested the reader"
    # The derived directions after it follow: 14:00 is now the IN, 15:00 its OUT.
    remaining = await tt.events(employee["id"])
    assert [e["direction"] for e in remaining] == ["IN", "OUT"]
    everything = await tt.events(employee["id"], include_deleted="true")
    assert len(everything) == 3
    again = await tt.client.request(
        "DELETE", f"/api/events/{first['event_id']}", json={"reason": "twice"}, headers=tt.admin
    )
    assert again.status_code == 409
    audit = (
        await tt.client.get(
            "/api/audit", params={"entity": "event", "entity_id": first["event_id"]}, headers=tt.admin
        )
    ).json()["items"]
    assert audit[0]["action"] == "delete" and audit[0]["before"]["deleted_at"] is None


async def test_delete_reason_in_the_body(tt: TT) -> None:
    employee = await tt.employee()
    event = (await tt.manual(employee["id"], "2026-10-20T08:00:00", "IN")).json()
    response = await tt.client.request(
        "DELETE", f"/api/events/{event['id']}", json={"reason": "duplicate entry"}, headers=tt.admin
    )
    assert response.status_code == 200 and response.json()["delete_reason"] == "duplicate entry"
    user = await tt.headers("user")
    assert (
        await tt.client.request("DELETE", f"/api/events/{event['id']}", json={"reason": "x"}, headers=user)
    ).status_code == 403
