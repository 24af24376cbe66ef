"""Messenger history page, taken apart: a chat of 1,000,000 messages on PostgreSQL, the page of
50 from the newest and from the middle, timed in-process (no HTTP socket), the statements each
page runs counted, and each statement's EXPLAIN ANALYZE.

    .venv/bin/python -m bench.messenger_history [--repeat 200] [--profile]

``--profile`` also prints a pyinstrument profile of the middle page (pyinstrument is a
developer's tool, not a dependency: ``.venv/bin/python -m pip install pyinstrument``).
It uses its own database ``basis_bench_msghist`` on the local PostgreSQL, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import run as harness
from bench.scenarios.messenger import _SEED, HISTORY_MESSAGES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.messenger_history", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    return parser.parse_args(argv)


async def _explain(url: str, chat_id: int, user_id: int, middle: int, top: int) -> list[str]:
    engine = create_async_engine(url)
    statements = {
        "member check (only for an empty page)": (
            "SELECT c.id, c.type, m.user_id FROM messenger_chats c LEFT JOIN messenger_chat_members m "
            "ON m.chat_id = c.id AND m.user_id = :user WHERE c.id = :chat"
        ),
        "page, newest": (
            "SELECT * FROM messenger_messages WHERE chat_id = :chat AND EXISTS (SELECT user_id "
            "FROM messenger_chat_members WHERE chat_id = :chat AND user_id = :user) ORDER BY id DESC LIMIT 50"
        ),
        "page, middle": (
            "SELECT * FROM messenger_messages WHERE chat_id = :chat AND EXISTS (SELECT user_id "
            "FROM messenger_chat_members WHERE chat_id = :chat AND user_id = :user) AND id < :middle "
            "ORDER BY id DESC LIMIT 50"
        ),
        "attachments of the page": (
            "SELECT * FROM messenger_attachments WHERE message_id IN "
            "(SELECT generate_series(:middle - 50, :middle - 1)) ORDER BY id"
        ),
    }
    lines = []
    async with engine.connect() as conn:
        for name, sql in statements.items():
            params = {"chat": chat_id, "user": user_id, "middle": middle, "top": top}
            plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"), params)).scalars().all()
            lines.append(f"-- {name}")
            lines.extend(f"   {row}" for row in plan)
    await engine.dispose()
    return lines


async def measure(args: argparse.Namespace, url: str, tmp: Path) -> None:
    harness.use_server_env(url, tmp, ["messenger"], "http://testserver")
    os.environ["BASIS_PASSWORD_HASH_PROFILE"] = "fast"
    os.environ["BASIS_ALLOWED_HOSTS"] = '["testserver"]'
    await harness.run_basis(dict(os.environ), harness.ROOT, "migrate")
    from basis.main import create_app

    app = create_app()
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            people = []
            for n in range(2):
                email = f"history-{n}@example.com"
                r = await http.post(
                    "/auth/register", json={"email": email, "password": secrets.token_urlsafe(16)}
                )
                r.raise_for_status()
                people.append(r.json())
            owner, reader = people
            headers = {"Authorization": f"Bearer {reader['access_token']}"}
            r = await http.post(
                "/api/chats",
                json={"type": "group", "title": "history", "members": [reader["user"]["id"]]},
                headers={"Authorization": f"Bearer {owner['access_token']}"},
            )
            r.raise_for_status()
            chat_id = int(r.json()["id"])
            engine = create_async_engine(url)
            async with engine.begin() as conn:
                params = {"chat": chat_id, "sender": owner["user"]["id"], "count": HISTORY_MESSAGES}
                await conn.execute(text(_SEED["postgresql"]), params)
            async with engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE messenger_messages"))
                low, high = (
                    await conn.execute(
                        text("SELECT min(id), max(id) FROM messenger_messages WHERE chat_id = :c"),
                        {"c": chat_id},
                    )
                ).one()
            await engine.dispose()
            middle = (int(low) + int(high)) // 2
            pages = {
                "newest": f"/api/chats/{chat_id}/messages?limit=50",
                "middle": f"/api/chats/{chat_id}/messages?limit=50&before_id={middle}",
            }
            db_engine = app.state.db.engine
            counted: list[str] = []
            if True:
                event.listen(db_engine.sync_engine, "before_cursor_execute", lambda *a: counted.append(a[2]))
            for name, path in pages.items():
                for _ in range(5):
                    (await http.get(path, headers=headers)).raise_for_status()
                counted.clear()
                r = await http.get(path, headers=headers)
                assert len(r.json()) == 50
                per_page = len(counted)
                times = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    r = await http.get(path, headers=headers)
                    times.append((time.perf_counter() - began) * 1000)
                    r.raise_for_status()
                times.sort()
                print(
                    f"page of 50, {name}: median {statistics.median(times):.2f} ms, "
                    f"p90 {times[int(len(times) * 0.9)]:.2f} ms, min {times[0]:.2f} ms "
                    f"({args.repeat} calls, in-process); statements per page: {per_page}"
                )
                if name == "middle" and counted:
                    for sql in dict.fromkeys(counted):
                        print(f"   {' '.join(sql.split())[:160]}")
            began = time.perf_counter()
            for _ in range(args.repeat):
                (await http.get("/health")).raise_for_status()
            print(
                f"floor, GET /health in-process: mean "
                f"{(time.perf_counter() - began) * 1000 / args.repeat:.2f} ms"
            )
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(async_mode="enabled", interval=0.0002)
                with profiler:
                    for _ in range(args.repeat):
                        await http.get(pages["middle"], headers=headers)
                print(profiler.output_text(unicode=False, color=False, show_all=False))
    for line in await _explain(url, chat_id, int(reader["user"]["id"]), middle, int(high)):
        print(line)


async def main_async(args: argparse.Namespace) -> None:
    harness.BENCH_DB = "basis_bench_msghist"
    with tempfile.TemporaryDirectory(prefix="basis-msghist-") as folder:
        url = await harness.create_database("postgresql", Path(folder))
        try:
            await measure(args, url, Path(folder))
        finally:
            await harness.drop_database("postgresql")


def main(argv: list[str] | None = None) -> Any:
    asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    main()
