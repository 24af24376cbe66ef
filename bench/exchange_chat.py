"""Exchange chat fan-out over two server processes: send-to-last-delivery latency of one chat
message to N sockets of the exchange's two participants, the sockets spread over both
processes (Redis pub/sub carries the message between them), against the same measured with one
socket on each process (the floor of this figure, from the same run).

    .venv/bin/python -m bench.exchange_chat --redis redis://127.0.0.1:6379/9
        [--db postgresql] [--sockets 200] [--messages 50]

Creates a fresh bench database (as ``bench.run``), runs ``basis migrate``, starts two
``uvicorn`` processes with ``BASIS_REDIS_URL`` and stops everything again when it ends. Each
message is sent with ``POST /api/chat/exchange/{id}/messages`` to the first process and timed
until every socket has received it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import (
    BenchError,
    create_database,
    drop_database,
    free_port,
    run_basis,
    server_env,
    start_server,
    wait_healthy,
)

ALMATY = "Алматы"
PASSWORD = "bench-" + secrets.token_urlsafe(12)


async def _member(client: Any, base: str, give: str, get: str) -> dict[str, str]:
    email = f"chat-{secrets.token_hex(5)}@example.com"
    r = await client.post(f"{base}/auth/register", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    body = r.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    user_id = (
        body.get("user", {}).get("id") or (await client.get(f"{base}/auth/me", headers=headers)).json()["id"]
    )
    r = await client.put(
        f"{base}/api/users/{user_id}/locations", json={"locations": [ALMATY]}, headers=headers
    )
    r.raise_for_status()
    items = {"offers": {give: [{"item_name": give, "value_tenge": 50_000}]},
             "wants": {get: [{"item_name": get, "value_tenge": 50_000}]}}  # fmt: skip
    r = await client.post(f"{base}/api/listings/create-by-categories", json=items, headers=headers)
    r.raise_for_status()
    return {**headers, "X-User-Id": str(user_id)}


async def _until(socket: Any, text: str) -> None:
    async with asyncio.timeout(30):
        while json.loads(await socket.recv())["message"]["message_text"] != text:
            pass


async def _fan_out(
    client: Any, urls: list[str], exchange_id: str, people: list[dict[str, str]], sockets: int, messages: int
) -> list[float]:
    from websockets.asyncio.client import connect

    opened = []
    try:
        for n in range(sockets):
            base = urls[n % 2].replace("http", "ws", 1)
            token = people[(n // 2) % 2]["Authorization"][7:]
            opened.append(await connect(f"{base}/ws/exchange/{exchange_id}?token={token}", max_queue=None))
        await asyncio.sleep(1)  # every socket subscribed
        sender = {"Authorization": people[0]["Authorization"]}
        latencies = []
        for n in range(messages):
            text = f"m{sockets}-{n}"
            started = time.perf_counter()
            r = await client.post(
                f"{urls[0]}/api/chat/exchange/{exchange_id}/messages", json={"text": text}, headers=sender
            )
            if r.status_code != 201:
                raise BenchError(f"sending answered {r.status_code}: {r.text[:300]}")
            await asyncio.gather(*[_until(s, text) for s in opened])
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies
    finally:
        for s in opened:
            await s.close()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * 0.99) - 1)]


async def run(args: argparse.Namespace) -> int:
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="basis-bench-chat-"))
    servers = []
    created = False
    try:
        database_url = await create_database(args.db, tmp)
        created = True
        ports = [free_port(), free_port()]
        env = server_env(
            database_url=database_url, data_dir=tmp / "data", apps=["exchange"],
            public_url=f"http://127.0.0.1:{ports[0]}", redis_url=args.redis,
            admin_email="bench-admin@example.com", admin_password=PASSWORD,
        )  # fmt: skip
        # The pair is proposed by run-pipeline below, not by a worker this bench does not start.
        env["BASIS_EXCHANGE_REMATCH_IN_BACKGROUND"] = "false"
        env["BASIS_PASSWORD_HASH_PROFILE"] = "fast"
        print("bench: basis migrate", file=sys.stderr, flush=True)
        await run_basis(env, tmp, "migrate", time_limit=600)
        servers = [start_server(env, tmp, port, name=f"server{n}") for n, port in enumerate(ports)]
        for server in servers:
            await wait_healthy(server)
        urls = [s.url for s in servers]
        async with httpx.AsyncClient(timeout=60) as client:
            people = [
                await _member(client, urls[0], "property", "farm_products"),
                await _member(client, urls[1], "farm_products", "property"),
            ]
            r = await client.post(
                f"{urls[0]}/api/matching/run-pipeline",
                json={"user_id": int(people[0]["X-User-Id"])},
                headers={"Authorization": people[0]["Authorization"]},
            )
            r.raise_for_status()
            found = await client.get(
                f"{urls[0]}/api/exchanges/my-exchanges", headers={"Authorization": people[0]["Authorization"]}
            )
            exchange_id = found.json()["exchanges"][0]["id"]
            load = os.getloadavg()[0]
            print(f"bench: floor, 2 sockets x {args.messages} messages", file=sys.stderr, flush=True)
            floor = await _fan_out(client, urls, exchange_id, people, 2, args.messages)
            print(f"bench: {args.sockets} sockets x {args.messages} messages", file=sys.stderr, flush=True)
            wide = await _fan_out(client, urls, exchange_id, people, args.sockets, args.messages)
        for server in servers:
            if server.proc.poll() is not None:
                raise BenchError(f"a server died:\n{server.log_tail()}")
        f50, f99 = statistics.median(floor), _p99(floor)
        w50, w99 = statistics.median(wide), _p99(wide)
        print(
            f"exchange chat fan-out on {args.db} + redis, 2 uvicorn processes, {args.messages} messages, "
            f"load average {load:.2f} before the run\n"
            f"  floor: 2 sockets (one per process)   median {f50:7.1f} ms   p99 {f99:7.1f} ms\n"
            f"  {args.sockets} sockets over 2 processes      median {w50:7.1f} ms   p99 {w99:7.1f} ms"
            f"   = {w50 / f50:.1f}x / {w99 / f99:.1f}x the floor"
        )
        return 0
    finally:
        for server in servers:
            server.stop()
        if created and not args.keep_db:
            await drop_database(args.db)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", required=True, metavar="URL", help="Redis for the two servers' hub")
    parser.add_argument("--db", default="postgresql", choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
