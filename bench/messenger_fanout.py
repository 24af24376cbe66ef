"""Messenger fan-out: send-to-last-socket latency with 1,000 sockets over two server processes
on PostgreSQL + Redis, at a steady 50 messages/s.

    .venv/bin/python -m bench.messenger_fanout [--sockets 1000] [--users 100] [--rate 50]
                                               [--seconds 20] [--redis redis://127.0.0.1:6379/14]

It creates its database on the local PostgreSQL (``basis_bench_fanout``, dropped at the end),
migrates it, starts two uvicorn processes of Basis sharing it and one Redis, registers
``--users`` people in one group, opens ``--sockets`` sockets spread evenly over the people and
over both processes, then sends ``--rate`` messages per second for ``--seconds`` through REST
(alternating processes). For every message it takes the time from the start of the send to the
moment the last of all sockets received its ``new_message``; it prints p50/p99 of that, and
how many deliveries were missing. The sockets are read in this one process: on a busy 2-core
machine its own reading is part of the figure (an upper bound).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import run as harness

MARK = b'"new_message"'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.messenger_fanout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="seconds of sending (after 2 s of warm-up)"
    )
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/14", help="a Redis database this may flush"
    )
    return parser.parse_args(argv)


async def _register(http: httpx.AsyncClient, base: str, n: int) -> dict[str, Any]:
    email = f"fanout-{n}-{secrets.token_hex(3)}@example.com"
    response = await http.post(
        f"{base}/auth/register", json={"email": email, "password": secrets.token_urlsafe(16)}
    )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def _reader(ws: ClientConnection, arrivals: dict[int, float], index: int, seen: list[set[int]]) -> None:
    with contextlib.suppress(ConnectionClosed):
        await _read(ws, arrivals, index, seen)


async def _read(ws: ClientConnection, arrivals: dict[int, float], index: int, seen: list[set[int]]) -> None:
    loop = asyncio.get_running_loop()
    async for raw in ws:
        data = raw if isinstance(raw, bytes) else raw.encode()
        if MARK not in data:
            continue
        at = loop.time()
        # The text is "fanout <seq>": found without parsing the whole event.
        start = data.find(b"fanout ") + 7
        seq = int(data[start : data.find(b'"', start)])
        seen[index].add(seq)
        if at > arrivals.get(seq, 0.0):
            arrivals[seq] = at


async def measure(args: argparse.Namespace, one: str, two: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        people = [await _register(http, one, n) for n in range(args.users)]
        owner = people[0]
        headers = {"Authorization": f"Bearer {owner['access_token']}"}
        made = await http.post(
            f"{one}/api/chats",
            json={"type": "group", "title": "fan-out", "members": [p["user"]["id"] for p in people[1:]]},
            headers=headers,
        )
        made.raise_for_status()
        chat_id = made.json()["id"]
        sockets: list[ClientConnection] = []
        for index in range(args.sockets):
            base = (one if index % 2 else two).replace("http://", "ws://")
            token = people[index % len(people)]["access_token"]
            sockets.append(await connect(f"{base}/ws?token={token}", max_queue=None, ping_interval=None))
        arrivals: dict[int, float] = {}
        seen: list[set[int]] = [set() for _ in sockets]
        readers = [asyncio.create_task(_reader(ws, arrivals, i, seen)) for i, ws in enumerate(sockets)]
        await asyncio.sleep(2)  # presence events of 1,000 sockets settle
        loop = asyncio.get_running_loop()
        sent: dict[int, float] = {}
        total = int(args.rate * (args.seconds + 2))
        began = loop.time()

        async def send(seq: int) -> None:
            sent[seq] = loop.time()
            response = await http.post(
                f"{(one, two)[seq % 2]}/api/chats/{chat_id}/messages",
                json={"text": f"fanout {seq}", "temp_id": f"f{seq}"},
                headers=headers,
            )
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text[:200]}")

        failures: list[str] = []
        sends = []
        for seq in range(total):
            await asyncio.sleep(max(0.0, began + seq / args.rate - loop.time()))
            sends.append(asyncio.create_task(send(seq)))
        await asyncio.gather(*sends)
        await asyncio.sleep(3)  # the last deliveries
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        closed = [ws.close_code for ws in sockets]
        for ws in sockets:
            await ws.close()
    warm = int(args.rate * 2)
    measured = [seq for seq in range(warm, total)]
    latencies = sorted((arrivals[s] - sent[s]) * 1000 for s in measured if s in arrivals)
    missing = sum(1 for i in range(len(sockets)) for s in measured if s not in seen[i])
    return {
        "messages": len(measured),
        "sockets": len(sockets),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
        "missing_deliveries": missing,
        "failed_sends": failures,
        "closed_sockets": sum(1 for code in closed if code is not None),
    }


async def main_async(args: argparse.Namespace) -> int:
    from redis.asyncio import Redis

    redis = Redis.from_url(args.redis)
    await redis.flushdb()
    await redis.aclose()
    # A database of its own: a `bench.run` of someone else on this server keeps `basis_bench`.
    harness.BENCH_DB = "basis_bench_fanout"
    with tempfile.TemporaryDirectory(prefix="basis-fanout-") as folder:
        tmp = Path(folder)
        url = await harness.create_database("postgresql", tmp)
        servers: list[harness.Server] = []
        try:
            ports = [harness.free_port(), harness.free_port()]
            env = harness.server_env(
                database_url=url,
                data_dir=tmp / "data",
                apps=["messenger"],
                public_url=f"http://127.0.0.1:{ports[0]}",
                redis_url=args.redis,
                admin_email="fanout-admin@example.com",
                admin_password=secrets.token_urlsafe(16),
            )
            env["BASIS_PASSWORD_HASH_PROFILE"] = "fast"  # the fan-out is measured, not the hashing
            env["BASIS_MESSENGER_SEND_LIMIT"] = "100000/minute"
            await harness.run_basis(env, harness.ROOT, "migrate")
            for index, port in enumerate(ports):
                servers.append(harness.start_server(env, tmp, port, name=f"server{index}"))
            for server in servers:
                await harness.wait_healthy(server)
            result = await measure(args, servers[0].url, servers[1].url)
        finally:
            for server in servers:
                server.stop()
            await harness.drop_database("postgresql")
    print(
        f"fan-out, {result['sockets']} sockets over 2 processes, PostgreSQL + Redis, "
        f"{args.rate:g} messages/s, {result['messages']} messages measured:"
    )
    print(
        f"  send-to-last-socket p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"max {result['max_ms']:.1f} ms; missing deliveries: {result['missing_deliveries']}"
    )
    failed = result["failed_sends"]
    print(f"  sockets closed by the server: {result['closed_sockets']}; failed sends: {len(failed)}")
    for failure in sorted(set(result["failed_sends"]))[:5]:
        print(f"    {failure}")
    return 0 if result["missing_deliveries"] == 0 and not result["failed_sends"] else 1


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(main_async(parse_args(argv)))
    except harness.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
