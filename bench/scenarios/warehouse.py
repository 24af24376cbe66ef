"""Warehouse: movements under contention (one hot product) and spread (5,000 products), the
scan, an idempotent replay, and the complete stock report over 100k products."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.scenarios import BenchContext, Scenario, Timed

APPS: list[str] = ["warehouse"]

HOT_STOCK = 1_000_000
REPORT_PRODUCTS = 100_000
MEMORY_PRODUCTS = 1_000_000


async def _admin(ctx: BenchContext) -> dict[str, str]:
    return await ctx.admin_headers()


async def _hot(ctx: BenchContext) -> dict[str, Any]:
    headers = await _admin(ctx)
    if "warehouse_hot" not in ctx.state:
        response = await ctx.client.post(
            "/products",
            json={
                "name": "Bench hot item",
                "sku": f"BENCH-HOT-{uuid.uuid4().hex[:8]}",
                "current_quantity": HOT_STOCK,
            },
            headers=headers,
        )
        response.raise_for_status()
        ctx.state["warehouse_hot"] = response.json()
    product = ctx.state["warehouse_hot"]
    return {"headers": headers, "lua_vars": {"PRODUCT": product["id"]}, "qr": product["qr_code"]}


async def _demo(ctx: BenchContext) -> dict[str, Any]:
    headers = await _admin(ctx)
    if "warehouse_demo" not in ctx.state:
        await ctx.cli("demo", "--size", "full", "--app", "warehouse")
        from sqlalchemy import func, select

        from basis.apps.warehouse.models import Product

        async with ctx.session() as session:
            first, last = (
                await session.execute(
                    select(func.min(Product.id), func.max(Product.id)).where(
                        Product.sku.like("DEMO-%"),
                        Product.is_archived == False,  # noqa: E712
                    )
                )
            ).one()
        ctx.state["warehouse_demo"] = (first, last - first + 1)
    first, count = ctx.state["warehouse_demo"]
    return {"headers": headers, "lua_vars": {"FIRST": first, "COUNT": count}}


async def _scan(ctx: BenchContext) -> dict[str, Any]:
    data = await _hot(ctx)
    return {"headers": data["headers"], "path": f"/products/qr/{data['qr']}"}


async def _replay(ctx: BenchContext) -> dict[str, Any]:
    data = await _hot(ctx)
    body = {"product_id": data["lua_vars"]["PRODUCT"], "movement_type": "incoming", "quantity": 1}
    headers = {**data["headers"], "Idempotency-Key": f"bench-replay-{uuid.uuid4().hex}"}
    first = await ctx.client.post("/stock-movements", json=body, headers=headers)
    first.raise_for_status()
    return {"headers": {**headers, "Content-Type": "application/json"}, "body": body}


async def _report_data(ctx: BenchContext) -> dict[str, Any]:
    return await _seed_report(ctx, REPORT_PRODUCTS)


async def _million(ctx: BenchContext) -> dict[str, Any]:
    return await _seed_report(ctx, MEMORY_PRODUCTS)


async def _seed_report(ctx: BenchContext, wanted: int) -> dict[str, Any]:
    """``wanted`` products in all with one level each, inserted in bulk (a movement per level
    keeps W1 true); a second call with more adds the difference."""
    headers = await _admin(ctx)
    have = ctx.state.get("warehouse_report", 0)
    if have < wanted:
        from sqlalchemy import insert, select

        from basis.apps.warehouse import catalogue as service
        from basis.apps.warehouse.models import Product, StockLevel, StockMovement
        from basis.core.time import utcnow
        from basis.identity.models import User

        now = utcnow()
        tag = uuid.uuid4().hex[:6]
        async with ctx.session() as session:
            location = await service.ensure_default_location(session)
            author = await session.scalar(select(User.id).where(User.role == "admin").limit(1))
            conn = await session.connection()
            for start in range(have, wanted, 10_000):
                rows = [
                    {
                        "name": f"Report item {i}",
                        "sku": f"RPT-{tag}-{i:06d}",
                        "qr_code": f"product:rpt-{tag}-{i}",
                        "unit": "pcs",
                        "min_quantity": Decimal(0),
                        "is_archived": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, min(start + 10_000, wanted))
                ]
                await conn.execute(insert(Product.__table__), rows)
            ids = list(await session.scalars(select(Product.id).where(Product.sku.like(f"RPT-{tag}-%"))))
            for start in range(0, len(ids), 10_000):
                chunk = ids[start : start + 10_000]
                await conn.execute(
                    insert(StockLevel.__table__),
                    [
                        {
                            "product_id": pid,
                            "location_id": location,
                            "quantity": Decimal(pid % 97),
                            "updated_at": now,
                        }
                        for pid in chunk
                    ],
                )
                await conn.execute(
                    insert(StockMovement.__table__),
                    [
                        {
                            "product_id": pid,
                            "location_id": location,
                            "movement_type": "incoming",
                            "quantity": Decimal(pid % 97),
                            "balance_after": Decimal(pid % 97),
                            "user_id": author,
                            "created_at": now,
                        }
                        for pid in chunk
                        if pid % 97
                    ],
                )
            await session.commit()
        await ctx.analyze("products", "stock_levels", "locations")
        ctx.state["warehouse_report"] = wanted
    return {"headers": headers}


def _report_in(fmt: str) -> Any:
    """The report's time to its last byte, as curl receives it into a file. Parsing and counting
    it (after the clock stops) is the client's time, not the server's, and so would be httpx's
    own reading of 15 MB in Python, which added 0.1-0.2 s to the server's 0.2 s. The token goes
    to curl in a file, not on its command line."""

    async def call(ctx: BenchContext, data: dict[str, Any]) -> Path:
        import asyncio

        headers = ctx.tmp / "report-headers.txt"
        headers.write_text("".join(f"{k}: {v}\n" for k, v in data["headers"].items()))
        body = ctx.tmp / f"report.{fmt}"
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "--fail", "-o", str(body), "-H", f"@{headers}",
            f"{ctx.base_url}/reports/stock?format={fmt}",
        )  # fmt: skip
        assert await asyncio.wait_for(proc.wait(), timeout=120) == 0, "curl failed"
        return body

    return call


def _json_rows(body: Path) -> None:
    assert len(json.loads(body.read_bytes())["items"]) >= REPORT_PRODUCTS


def _csv_rows(body: Path) -> None:
    assert body.read_bytes().count(b"\r\n") > REPORT_PRODUCTS  # a header, then a line per level


# Runs the app in a process of its own and answers the report into a sink that keeps only the
# byte count (httpx's ASGI transport would hold the whole body): the process's peak RSS before
# and after the report is what streaming keeps flat.
_MEASURE = r"""
import asyncio, json, resource, sys
from asgi_lifespan import LifespanManager
from basis.main import create_app

async def call(app, query, token):
    size = 0
    sent = asyncio.Event()
    async def receive():  # the request once, then no disconnect until the answer is done
        if not sent.is_set():
            sent.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
    async def send(message):
        nonlocal size
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))
    headers = [(b"host", b"127.0.0.1"), (b"authorization", ("Bearer " + token).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/reports/stock", "raw_path": b"/reports/stock",
             "query_string": query.encode(), "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await app(scope, receive, send)
    return size

async def main():
    fmt, token = sys.argv[1], sys.argv[2]
    app = create_app()
    async with LifespanManager(app) as manager:
        await call(manager.app, "format=" + fmt + "&location_id=2000000000", token)  # warm, no rows
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = await call(manager.app, "format=" + fmt, token)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kib": before, "after_kib": after, "bytes": size}))

asyncio.run(main())
"""


def _memory(fmt: str) -> Any:
    async def call(ctx: BenchContext, data: dict[str, Any]) -> None:
        import asyncio
        import json
        import sys

        token = data["headers"]["Authorization"].split()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _MEASURE, fmt, token, env=ctx.env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=900)
        assert proc.returncode == 0, out
        got = json.loads(out.decode().strip().splitlines()[-1])
        print(
            f"  {fmt} over {MEMORY_PRODUCTS:,} products: {got['bytes'] / 1e6:.0f} MB sent, peak RSS "
            f"{got['before_kib'] / 1024:.0f} MiB before the report, {got['after_kib'] / 1024:.0f} MiB after",
            flush=True,
        )

    return call


_MOVE = (
    "'{\"product_id\": ' .. %s .. ', \"movement_type\": \"' .. ((n %% 2 == 0) and 'incoming' or 'outgoing') "
    '.. \'", "quantity": 1}\''
)

SCENARIOS: list[Scenario | Timed] = [
    Scenario(
        "POST /stock-movements, one hot product",
        path="/stock-movements",
        method="POST",
        headers={"Content-Type": "application/json"},
        setup=_hot,
        body_lua=_MOVE % "PRODUCT",
        expect=201,
        note="every request locks the same product row (W2): contention; in/out alternate",
    ),
    Scenario(
        "POST /stock-movements, 5,000 products",
        path="/stock-movements",
        method="POST",
        headers={"Content-Type": "application/json"},
        setup=_demo,
        body_lua=(
            '\'{"product_id": \' .. (FIRST + n % COUNT) .. \', "movement_type": "incoming", "quantity": 1}\''
        ),
        expect=201,
        note="demo data (5,000 products, a year of movements); lock + levels + level + entry",
    ),
    Scenario(
        "POST /stock-movements, Idempotency-Key replay",
        path="/stock-movements",
        method="POST",
        setup=_replay,
        expect=201,
        note="a scanner's retry: the stored answer, nothing written",
    ),
    Scenario(
        "GET /products/qr/{code} (scan)",
        setup=_scan,
        note="product by QR code with its total over locations",
    ),
    Scenario(
        "GET /products?limit=50",
        path="/products?limit=50",
        setup=_demo,
        note="a page of the catalogue with current quantities",
    ),
    Timed(
        "GET /reports/stock, 100k products (JSON)",
        call=_report_in("json"),
        setup=_report_data,
        repeat=5,
        check=_json_rows,
        note="to the last byte received; parsed and counted untimed",
    ),
    Timed(
        "GET /reports/stock, 100k products (CSV)",
        call=_report_in("csv"),
        setup=_report_data,
        repeat=5,
        check=_csv_rows,
    ),
    *(
        Timed(
            f"GET /reports/stock, 1M products ({fmt}): peak memory",
            call=_memory(fmt),
            setup=_million,
            repeat=1,
            warmup=0,
            note="peak RSS of a process answering the report, printed; the time includes its start",
        )
        for fmt in ("json", "csv", "xlsx")
    ),
]
