"""HemoDay: the WatermelonDB sync a phone makes (a first pull of 10,000 changed rows, a push of
1,000 new records) and the clinician's five-year PDF report, each one call at a time."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from bench.scenarios import BenchContext, Timed

APPS: list[str] = ["hemoday"]

PULL_ROWS = 10_000
PUSH_ROWS = 1_000
PASSWORD = "bench-" + uuid.uuid4().hex
_pushes = itertools.count()


def _transfusion(record_id: str, day: dt.date) -> dict[str, Any]:
    return {
        "id": record_id,
        "date": day.isoformat(),
        "component": "Эритроцитная масса",
        "volume": 300,
        "weight": 30,
        "hb_before": 85,
        "hb_after": 120,
        "chelator": "Эксиджад",
        "_status": "created",
        "_changed": "",
        "created_at": 1,
        "updated_at": 1,
    }


async def _family(ctx: BenchContext, name: str) -> dict[str, str]:
    """A new family's owner, registered through the app's own call; its Bearer headers."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    response = await ctx.client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _push(
    ctx: BenchContext, headers: dict[str, str], records: list[dict[str, Any]], since: int
) -> None:
    changes = {"transfusions": {"created": records, "updated": [], "deleted": []}}
    body = {"changes": changes, "last_pulled_at": since}
    response = await ctx.client.post("/api/v1/sync", json=body, headers=headers, timeout=120)
    response.raise_for_status()


async def _pull(ctx: BenchContext, headers: dict[str, str], since: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"schema_version": 7}
    if since is not None:
        params["last_pulled_at"] = since
    response = await ctx.client.get("/api/v1/sync", params=params, headers=headers, timeout=120)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def _filled(ctx: BenchContext) -> dict[str, Any]:
    """A family whose phone has pushed 10,000 transfusions, in pushes of 1,000."""
    if "hemoday_filled" not in ctx.state:
        headers = await _family(ctx, "pull")
        since = (await _pull(ctx, headers))["timestamp"]
        start = dt.date(2021, 1, 1)
        for chunk in range(PULL_ROWS // PUSH_ROWS):
            records = [
                _transfusion(f"t{chunk}-{n}", start + dt.timedelta(days=(chunk * PUSH_ROWS + n) % 1800))
                for n in range(PUSH_ROWS)
            ]
            await _push(ctx, headers, records, since)
        ctx.state["hemoday_filled"] = {"headers": headers, "since": since}
    return dict(ctx.state["hemoday_filled"])


async def _first_pull(ctx: BenchContext, data: dict[str, Any]) -> None:
    answer = await _pull(ctx, data["headers"])
    rows = answer["changes"]["transfusions"]
    got = len(rows["created"]) + len(rows["updated"])
    if got < PULL_ROWS:
        raise RuntimeError(f"the pull brought {got} transfusions, not {PULL_ROWS}")


async def _pusher(ctx: BenchContext) -> dict[str, Any]:
    headers = await _family(ctx, "push")
    return {"headers": headers, "since": (await _pull(ctx, headers))["timestamp"]}


async def _push_new(ctx: BenchContext, data: dict[str, Any]) -> None:
    batch = next(_pushes)  # new ids every call: real inserts, not a replay
    day = dt.date(2026, 1, 1)
    records = [_transfusion(f"p{batch}-{n}", day) for n in range(PUSH_ROWS)]
    await _push(ctx, data["headers"], records, data["since"])


async def _five_years(ctx: BenchContext) -> dict[str, Any]:
    """A family with five years of weekly transfusions, as the demo family has."""
    headers = await _family(ctx, "report")
    since = (await _pull(ctx, headers))["timestamp"]
    start = dt.date(2021, 1, 4)
    weeks = [_transfusion(f"w{n}", start + dt.timedelta(weeks=n)) for n in range(5 * 52)]
    for n, record in enumerate(weeks):
        record["hb_before"] = 80 + n % 15
        record["hb_after"] = 115 + n % 20
    await _push(ctx, headers, weeks, since)
    return {"headers": headers, "params": {"from": "2021-01-01", "to": "2025-12-31", "format": "pdf"}}


async def _report(ctx: BenchContext, data: dict[str, Any]) -> None:
    response = await ctx.client.get(
        "/api/v1/report", params=data["params"], headers=data["headers"], timeout=120
    )
    response.raise_for_status()
    if not response.content.startswith(b"%PDF"):
        raise RuntimeError("the report is not a PDF")


SCENARIOS: list[Timed] = [
    Timed(
        "sync pull, 10,000 changed rows",
        call=_first_pull,
        setup=_filled,
        repeat=5,
        note="a phone's first pull of a family with 10,000 transfusions (plus the global rows)",
    ),
    Timed(
        "sync push, 1,000 new records",
        call=_push_new,
        setup=_pusher,
        repeat=5,
        note="validated whole, volume_per_kg and delta_hb computed, one transaction",
    ),
    Timed(
        "clinician's report, 5 years, PDF",
        call=_report,
        setup=_five_years,
        repeat=3,
        note="260 weekly transfusions, Cyrillic text and the Hb chart",
    ),
]
