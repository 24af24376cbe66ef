"""Every refusal of the terminal protocol is ``{ok: false, code, detail}``, malformed bodies
included, and every refused scan is counted in ``basis_timetracker_scans_total``."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest

from basis.core import outage
from basis.core.time import utcnow
from tests.apps.timetracker.conftest import TT, ms
from tests.fixtures.auth import MakeUser, bearer_for
from tests.support.proxy import CuttableProxy

TERMINAL_CALLS = [
    "/api/terminal/scan",
    "/api/terminal/scans",
    "/api/terminal/challenge",
    "/api/terminal/secure-scan",
    "/api/register/first-scan",
]
WRONG_TYPES: dict[str, Any] = {
    "/api/terminal/scan": {"uid": 1234, "ts": "yesterday"},
    "/api/terminal/scans": {"scans": "all of them"},
    "/api/terminal/challenge": {"terminal_id": "front door"},
    "/api/terminal/secure-scan": {"employee_uid": ["04A1"], "challenge_b64": None},
    "/api/register/first-scan": {"employee_uid": "04A1"},
}


@pytest.mark.parametrize("path", TERMINAL_CALLS)
async def test_malformed_bodies_are_refusals_in_the_terminal_shape(tt: TT, path: str) -> None:
    _, key = await tt.terminal()
    headers = {"X-Terminal-Key": key, "Content-Type": "application/json"}
    not_json = await tt.client.post(path, content=b'{"uid": "04A1",', headers=headers)
    wrong_types = await tt.client.post(path, json=WRONG_TYPES[path], headers={"X-Terminal-Key": key})
    for answer in (not_json, wrong_types):
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["ok"] is False and body["code"] == "validation_error"
        assert isinstance(body["detail"], list) and body["detail"][0]["loc"][0] == "body"
    undecodable = await tt.client.post(path, content=b'{"uid": "\xff\xfe"}', headers=headers)
    assert undecodable.status_code == 400
    assert undecodable.json()["ok"] is False and undecodable.json()["code"] == "bad_request"


async def test_the_staff_api_keeps_its_own_error_shape(tt: TT) -> None:
    refused = await tt.client.post("/api/employees", json={"full_name": 5}, headers=tt.admin)
    assert refused.status_code == 422
    assert set(refused.json()) == {"detail", "code"} and refused.json()["code"] == "validation_error"


def _scans_total(text: str) -> dict[str, float]:
    pattern = re.compile(r'^basis_timetracker_scans_total\{outcome="([^"]+)"\} (\S+)$', re.MULTILINE)
    return {outcome: float(value) for outcome, value in pattern.findall(text)}


async def _counted(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return _scans_total(response.text)


async def test_every_refused_scan_is_counted_by_its_code(tt: TT) -> None:
    employee = await tt.employee()
    _, key = await tt.terminal()
    other_id, _ = await tt.terminal()
    headers = {"X-Terminal-Key": key}
    before = await _counted(tt.client)
    refusals = [
        ({"uid": employee["nfc_uid"], "terminal_id": other_id}, 403, "terminal_mismatch"),
        ({"uid": "not a card!"}, 422, "invalid_uid"),
        ({"uid": employee["nfc_uid"], "direction": "SIDEWAYS"}, 422, "invalid_direction"),
        ({"uid": employee["nfc_uid"], "ts": "noon"}, 422, "validation_error"),
    ]
    for body, status, code in refusals:
        answer = await tt.client.post("/api/terminal/scan", json=body, headers=headers)
        assert (answer.status_code, answer.json()["code"], answer.json()["ok"]) == (status, code, False)
    batch = [
        {"uid": employee["nfc_uid"], "terminal_id": other_id},
        {"uid": "zz"},
        {"uid": employee["nfc_uid"], "direction": "UP"},
        {"uid": employee["nfc_uid"], "ts": ms(utcnow())},
    ]
    results = (
        await tt.client.post("/api/terminal/scans", json={"scans": batch}, headers=headers)
    ).json()["results"]
    assert [r["code"] for r in results[:3]] == ["terminal_mismatch", "invalid_uid", "invalid_direction"]
    assert results[3]["status"] == "accepted"
    after = await _counted(tt.client)
    for code, times in (
        ("terminal_mismatch", 2),
        ("invalid_uid", 2),
        ("invalid_direction", 2),
        ("validation_error", 1),
        ("accepted", 1),
    ):
        assert after.get(code, 0) - before.get(code, 0) == times, code
    assert await tt.events(employee["id"]) != []


async def test_the_guide_lists_invalid_direction() -> None:
    from tests.support.live import ROOT

    guide = (ROOT / "docs" / "apps" / "timetracker.md").read_text()
    refusals = guide.split("Every refusal has the body", 1)[1].split("### ", 1)[0]
    assert "| 422 | `invalid_direction` |" in refusals


async def test_a_database_outage_is_a_refusal_in_the_terminal_shape(
    database_proxy: tuple[CuttableProxy, str],
    make_client: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
    make_user: MakeUser,
    settings: Any,
    session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, url = database_proxy
    monkeypatch.setattr(outage, "OUTAGES", outage.OutageLog())
    admin = await bearer_for(session, settings, await make_user(role="admin"))
    async with make_client(database_url=url) as client:
        created = await client.post("/api/terminals", json={"name": "Door"}, headers=admin)
        headers = {"X-Terminal-Key": created.json()["api_key"]}
        assert (await client.post("/api/terminal/heartbeat", headers=headers)).status_code == 200
        proxy.cut()
        for path in ("/api/terminal/heartbeat", "/api/terminal/challenge"):
            answer = await client.post(path, json={}, headers=headers)
            assert answer.status_code == 503, answer.text
            assert answer.json()["ok"] is False and answer.json()["code"] == "unavailable"
            assert int(answer.headers["Retry-After"]) > 0
        proxy.restore()
        assert (await client.post("/api/terminal/heartbeat", headers=headers)).status_code == 200
