"""Warehouse: the two ways issue 18 named to shorten a movement's lock, side by side on one
database, without HTTP (so only the database strategy differs):

- **conditional UPDATE**: one transaction per movement; the level checked and changed in one
  statement (``UPDATE ... WHERE quantity + :delta >= 0``), then the ledger entry, then the
  commit. It takes no product lock and skips the checks the writer makes (archived product,
  the unit's precision, the total for the low-stock mail): a lower bound of its cost.
- **movement writer**: Basis's group commit (``basis.apps.warehouse.movement_writer``): the
  movements that arrive together decided in one transaction under their products' locks.

Each variant runs ``--clients`` concurrent clients for ``--seconds`` on one hot product (in and
out alternating) and spread over 5,000 products, the two variants alternating ``--rounds``
times; movements per second, p50 and p99, and the writer's figure over the UPDATE's, per round.
At the end ``verify`` checks that the ledger and the levels agree after both.

    .venv/bin/python -m bench.warehouse_lock [--db postgresql|mariadb] [--clients 64]
                                             [--seconds 6] [--rounds 2]

It uses its own database ``basis_bench_lock`` on the local server, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bench import run as harness

PRODUCTS = 5_000
STOCK = Decimal(1_000_000)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.warehouse_lock", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--db", choices=["postgresql", "mariadb"], default="postgresql")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args(argv)


async def _seed(db: Any) -> tuple[int, list[int], int]:
    """The author, the products (the first is the hot one) with stock, the default location."""
    from basis.apps.warehouse.catalogue import ensure_default_location
    from basis.apps.warehouse.models import Product, StockLevel, StockMovement
    from basis.core.time import utcnow
    from basis.identity.models import User

    now = utcnow()
    tag = secrets.token_hex(3)
    async with db.sessionmaker() as session:
        location = await ensure_default_location(session)
        author = await session.scalar(select(User.id).where(User.role == "admin").limit(1))
        conn = await session.connection()
        await conn.execute(
            insert(Product.__table__),
            [
                {
                    "name": f"Lock item {n}",
                    "sku": f"LOCK-{tag}-{n:05d}",
                    "qr_code": f"product:lock-{tag}-{n}",
                    "unit": "pcs",
                    "min_quantity": Decimal(0),
                    "is_archived": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(PRODUCTS)
            ],
        )
        ids = list(await session.scalars(select(Product.id).where(Product.sku.like(f"LOCK-{tag}-%"))))
        ids.sort()
        levels = [
            {"product_id": p, "location_id": location, "quantity": STOCK, "updated_at": now} for p in ids
        ]
        await conn.execute(insert(StockLevel.__table__), levels)
        entries = [
            {
                "product_id": p,
                "location_id": location,
                "movement_type": "incoming",
                "quantity": STOCK,
                "balance_after": STOCK,
                "user_id": author,
                "created_at": now,
            }
            for p in ids
        ]
        await conn.execute(insert(StockMovement.__table__), entries)
        await session.commit()
    assert author is not None
    return author, ids, location


def _conditional_update(db: Any, author: int, location: int) -> Callable[[int, str], Awaitable[bool]]:
    from basis.apps.warehouse.models import StockMovement
    from basis.core.time import utcnow

    returning = db.backend == "postgresql"  # MariaDB has no UPDATE ... RETURNING
    update = text(
        "UPDATE stock_levels SET quantity = quantity + :delta, updated_at = :now "
        "WHERE product_id = :product AND location_id = :location AND quantity + :delta >= 0"
        + (" RETURNING quantity" if returning else "")
    )
    level = text("SELECT quantity FROM stock_levels WHERE product_id = :product AND location_id = :location")
    entry = insert(StockMovement.__table__)

    async def move(product: int, kind: str) -> bool:
        delta = Decimal(1) if kind == "incoming" else Decimal(-1)
        params = {"delta": delta, "now": utcnow(), "product": product, "location": location}
        async with db.engine.begin() as conn:
            result = await conn.execute(update, params)
            if returning:
                after = result.scalar()
            else:
                after = (await conn.execute(level, params)).scalar() if result.rowcount == 1 else None
            if after is None:
                return False  # refused: nothing written
            await conn.execute(
                entry,
                {
                    "product_id": product,
                    "location_id": location,
                    "movement_type": kind,
                    "quantity": Decimal(1),
                    "balance_after": after,
                    "user_id": author,
                    "created_at": params["now"],
                },
            )
        return True

    return move


def _writer(db: Any, author: int) -> tuple[Callable[[int, str], Awaitable[bool]], Any]:
    from basis.apps.warehouse.dependencies import KEYS
    from basis.apps.warehouse.movement_writer import MovementWriter
    from basis.apps.warehouse.schemas import MovementCreate

    writer = MovementWriter(db.sessionmaker, KEYS, None)

    async def move(product: int, kind: str) -> bool:
        data = MovementCreate(product_id=product, movement_type=kind, quantity=Decimal(1))
        answer = await writer.submit(data, actor_id=author, key=None, payload=None)
        return answer.status == 201

    return move, writer


async def _load(
    move: Callable[[int, str], Awaitable[bool]], products: Callable[[int], int], clients: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    refused = 0
    deadline = time.perf_counter() + seconds

    async def client(number: int) -> None:
        nonlocal refused
        for n in itertools.count():
            if time.perf_counter() >= deadline:
                return
            began = time.perf_counter()
            ok = await move(products(number * 1_000_003 + n), "incoming" if n % 2 == 0 else "outgoing")
            latencies.append((time.perf_counter() - began) * 1000)
            refused += not ok

    began = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99)],
        "refused": refused,
    }


async def measure(args: argparse.Namespace, url: str, tmp: Path) -> None:
    env = harness.use_server_env(url, tmp, ["warehouse"], "http://127.0.0.1")
    await harness.run_basis(env, harness.ROOT, "migrate")
    await harness.run_basis(env, harness.ROOT, "users", "create-admin", "--email", "lock@example.com")
    from basis.apps.warehouse.stock import verify
    from basis.core.db import Database

    db = Database(url, pool_size=args.clients + 4, max_overflow=0)
    try:
        author, ids, location = await _seed(db)
        hot = ids[0]
        shapes = {
            "one hot product": lambda n: hot,
            f"spread over {PRODUCTS:,} products": lambda n: ids[n % len(ids)],
        }
        update = _conditional_update(db, author, location)
        writer_move, writer = _writer(db, author)
        print(
            f"warehouse lock variants on {args.db}: {args.clients} clients, {args.seconds:g} s each, "
            f"{args.rounds} rounds alternating; movements/s (p50 / p99 ms)"
        )
        for shape, products in shapes.items():
            ratios = []
            for round_number in range(1, args.rounds + 1):
                got = {}
                for name, move in (("conditional UPDATE", update), ("movement writer", writer_move)):
                    got[name] = await _load(move, products, args.clients, args.seconds)
                ratio = got["movement writer"]["rate"] / got["conditional UPDATE"]["rate"]
                ratios.append(ratio)
                cells = "; ".join(
                    f"{name} {r['rate']:,.0f}/s ({r['p50']:.1f} / {r['p99']:.1f})" for name, r in got.items()
                )
                print(f"  {shape}, round {round_number}: {cells}; writer / UPDATE = {ratio:.2f}x")
            middle = statistics.median(ratios)
            print(f"  {shape}: writer / UPDATE, median of {len(ratios)} rounds: {middle:.2f}x")
        await writer.close()
        async with db.sessionmaker() as session:
            drifts = await verify(session=session)
        print(f"verify after both: {'no drift' if not drifts else f'{len(drifts)} drifting levels'}")
        if drifts:
            raise SystemExit(1)
    finally:
        await db.dispose()


async def main_async(args: argparse.Namespace) -> None:
    harness.BENCH_DB = "basis_bench_lock"
    with tempfile.TemporaryDirectory(prefix="basis-lock-") as folder:
        url = await harness.create_database(args.db, Path(folder))
        try:
            await measure(args, url, Path(folder))
        finally:
            await harness.drop_database(args.db)


def main(argv: list[str] | None = None) -> Any:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
