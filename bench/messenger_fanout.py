"""Messenger fan-out: send-to-last-socket latency of a community over two server processes on
PostgreSQL + Redis.

    .venv/bin/python -m bench.messenger_fanout [--users 500] [--tabs 2] [--rate 50] [--seconds 20]
        [--stress-rate 5] [--stress-seconds 10] [--seed 14] [--redis redis://127.0.0.1:6379/14]

It creates its own database on the local PostgreSQL (``basis_bench_fanout``, dropped at the
end), migrates it, and starts two uvicorn processes of Basis sharing it and one Redis database
(which it flushes). Then three phases, all in the same run:

1. **floor**: two people in a dialog, one socket each, one on each process; one message at a
   time (10/s). The latency of the bare path: REST send, commit, Redis, the other process.
2. **community** (the figure of issue 14): ``--users`` people with ``--tabs`` sockets each
   (1,000 sockets by default), a person's tabs on different processes. The chats are a fixed
   random draw (``--seed``): one dialog per person plus groups of 5 to 50 members, so that
   every person is in several chats. Messages go at a steady ``--rate`` per second, each in a
   chat drawn at random, from a member drawn at random, over REST to either process.
3. **stress**: the old case, every person in ONE group, all sockets getting every message, at
   ``--stress-rate`` (0 skips it). Clearly a stress figure: each message is a frame on all
   sockets.

For every message: the time from the start of its send to the moment the LAST socket of that
chat's members received its ``new_message`` (the sender's own sockets included); p50/p99 over
the messages after a 2-second warm-up, and the deliveries that never came (member sockets
times messages, minus those received; must be 0). The sockets are read in this one process on
the same machine: its own reading is part of the figures, which are therefore upper bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench import run as harness

MARK = b'"new_message"'
WARMUP_SECONDS = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.messenger_fanout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--tabs", type=int, default=2, help="sockets per person, over both processes")
    parser.add_argument("--rate", type=float, default=50.0, help="community messages per second")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="community seconds measured (after warm-up)"
    )
    parser.add_argument("--groups", type=int, default=0, help="groups of 5-50 (default: users / 6)")
    parser.add_argument(
        "--stress-rate", type=float, default=5.0, help="messages/s in the one-big-group case; 0 skips"
    )
    parser.add_argument("--stress-seconds", type=float, default=10.0)
    parser.add_argument("--floor-messages", type=int, default=50)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--keep-logs", metavar="FOLDER", help="copy the servers' logs there")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/14", help="a Redis database this may flush"
    )
    return parser.parse_args(argv)


@dataclass
class Person:
    id: int
    token: str
    sockets: list[int] = field(default_factory=list)  # indexes into Listener.seen


class Listener:
    """All sockets, read concurrently; per socket the sequence numbers seen, per sequence the
    arrival time of each socket."""

    def __init__(self) -> None:
        self.sockets: list[ClientConnection] = []
        self.seen: list[set[int]] = []
        self.arrivals: dict[int, dict[int, float]] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []

    async def open(self, base: str, token: str) -> int:
        url = base.replace("http://", "ws://") + f"/ws?token={token}"
        ws = await connect(url, max_queue=None, ping_interval=None)
        index = len(self.sockets)
        self.sockets.append(ws)
        self.seen.append(set())
        self.tasks.append(asyncio.create_task(self._reader(ws, index)))
        return index

    async def _reader(self, ws: ClientConnection, index: int) -> None:
        try:
            await self._read(ws, index)
        except ConnectionClosed:
            pass
        except Exception as error:  # a driver bug must show in the figures
            self.errors.append(f"{type(error).__name__}: {error}")

    async def _read(self, ws: ClientConnection, index: int) -> None:
        loop = asyncio.get_running_loop()
        seen = self.seen[index]
        async for raw in ws:
            data = raw if isinstance(raw, bytes) else raw.encode()
            if MARK not in data:
                continue
            at = loop.time()
            # The text is "fanout <seq>": found without parsing the whole event.
            start = data.find(b"fanout ")
            if start < 0:
                continue
            start += 7
            seq = int(data[start : data.find(b'"', start)])
            seen.add(seq)
            self.arrivals.setdefault(seq, {})[index] = at

    def closed(self) -> str:
        """Sockets the server closed so far, by close code and reason."""
        codes = Counter(
            f"{ws.close_code} {ws.close_reason or ''}".strip() for ws in self.sockets if ws.close_code
        )
        text = ", ".join(f"{n} x {code}" for code, n in codes.most_common()) or "none"
        return text + (f"; reader errors: {Counter(self.errors).most_common(3)}" if self.errors else "")

    async def close(self) -> int:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        closed = sum(1 for ws in self.sockets if ws.close_code is not None)
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        return closed


async def _register(http: httpx.AsyncClient, base: str, n: int) -> Person:
    email = f"fanout-{n}-{secrets.token_hex(3)}@example.com"
    response = await http.post(
        f"{base}/auth/register", json={"email": email, "password": secrets.token_urlsafe(16)}
    )
    response.raise_for_status()
    body = response.json()
    return Person(id=int(body["user"]["id"]), token=body["access_token"])


async def _people(http: httpx.AsyncClient, bases: list[str], count: int, offset: int) -> list[Person]:
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> Person:
        async with gate:
            return await _register(http, bases[n % 2], offset + n)

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def _chat(http: httpx.AsyncClient, base: str, owner: Person, kind: str, members: list[Person]) -> int:
    body: dict[str, Any] = {"type": kind, "members": [m.id for m in members]}
    if kind == "group":
        body["title"] = f"fan-out {len(members) + 1}"
    response = await http.post(
        f"{base}/api/chats", json=body, headers={"Authorization": f"Bearer {owner.token}"}
    )
    response.raise_for_status()
    return int(response.json()["id"])


def _draw_chats(people: list[Person], groups: int, rng: random.Random) -> list[list[Person]]:
    """A dialog per person (a ring shuffled) and groups of 5-50; first member owns the chat."""
    order = people[:]
    rng.shuffle(order)
    chats = [[order[i], order[(i + 1) % len(order)]] for i in range(0, len(order) - 1, 2)]
    for _ in range(groups):
        chats.append(rng.sample(people, rng.randint(5, min(50, len(people)))))
    return chats


async def _phase(
    http: httpx.AsyncClient,
    bases: list[str],
    listener: Listener,
    chats: list[tuple[int, list[Person]]],
    *,
    rate: float,
    seconds: float,
    first_seq: int,
    rng: random.Random,
    one_at_a_time: bool = False,
    total: int | None = None,
) -> dict[str, Any]:
    """Sends at ``rate`` for warm-up + ``seconds`` and measures every message after the warm-up."""
    loop = asyncio.get_running_loop()
    count = total + min(10, total // 4) if total is not None else int(rate * (WARMUP_SECONDS + seconds))
    # The first messages (cold pools and caches) are sent but not measured.
    warm = min(10, count // 5) if total is not None else int(rate * WARMUP_SECONDS)
    plan = []
    for n in range(count):
        chat_id, members = rng.choice(chats)
        plan.append((first_seq + n, chat_id, members, rng.choice(members)))
    sent: dict[int, float] = {}
    failures: list[str] = []
    retried: list[str] = []

    async def send(seq: int, chat_id: int, sender: Person) -> None:
        sent[seq] = loop.time()
        for attempt in range(3):
            try:
                response = await http.post(
                    f"{bases[seq % 2]}/api/chats/{chat_id}/messages",
                    json={"text": f"fanout {seq}", "temp_id": f"f{seq}"},
                    headers={"Authorization": f"Bearer {sender.token}"},
                )
            except httpx.TransportError as error:
                # A kept-alive connection the server closed just then: the temp_id makes the
                # repeat safe (a replay, never a second message). Counted, and in the latency.
                retried.append(type(error).__name__)
                if attempt == 2:
                    failures.append(f"{type(error).__name__} after 3 tries")
                continue
            if response.status_code != 201:
                failures.append(f"{response.status_code} {response.text[:200]}")
            return

    began = loop.time()
    tasks = []
    for n, (seq, chat_id, _members, sender) in enumerate(plan):
        await asyncio.sleep(max(0.0, began + n / rate - loop.time()))
        if one_at_a_time:
            await send(seq, chat_id, sender)
        else:
            tasks.append(asyncio.create_task(send(seq, chat_id, sender)))
    await asyncio.gather(*tasks)
    await asyncio.sleep(3)  # the last deliveries
    latencies: list[float] = []
    missing = 0
    expected = 0
    for seq, _chat_id, members, _sender in plan[warm:]:
        wanted = [i for m in members for i in m.sockets]
        expected += len(wanted)
        got = listener.arrivals.get(seq, {})
        lost = sum(1 for i in wanted if i not in got)
        missing += lost
        if not lost:
            latencies.append((max(got[i] for i in wanted) - sent[seq]) * 1000)
    latencies.sort()
    return {
        "messages": len(plan) - warm,
        "deliveries": expected,
        "missing": missing,
        "failed": failures,
        "retried": len(retried),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan"),
        "max": latencies[-1] if latencies else float("nan"),
    }


def _line(label: str, r: dict[str, Any]) -> str:
    return (
        f"{label}: {r['messages']} messages, {r['deliveries']} socket deliveries expected; "
        f"send-to-last-socket p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms; "
        f"missing deliveries {r['missing']}; failed sends {len(r['failed'])} "
        f"(transport retries {r['retried']})"
    )


async def measure(args: argparse.Namespace, bases: list[str]) -> tuple[list[str], bool]:
    rng = random.Random(args.seed)
    lines: list[str] = []
    ok = True
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:
        # 1. floor: one socket per process, one dialog, one message at a time.
        a, b = await _people(http, bases, 2, offset=100_000)
        dialog = await _chat(http, bases[0], a, "dialog", [b])
        floor = Listener()
        a.sockets.append(await floor.open(bases[0], a.token))
        b.sockets.append(await floor.open(bases[1], b.token))
        await asyncio.sleep(1)
        result = await _phase(
            http,
            bases,
            floor,
            [(dialog, [a, b])],
            rate=10,
            seconds=0,
            first_seq=0,
            rng=rng,
            one_at_a_time=True,
            total=args.floor_messages,
        )
        await floor.close()
        lines.append(_line("floor (one socket per process, a dialog, one message at a time)", result))
        ok &= result["missing"] == 0 and not result["failed"]
        floor_p50 = result["p50"]

        # 2. community.
        people = await _people(http, bases, args.users, offset=0)
        drawn = _draw_chats(people, args.groups or max(1, args.users // 6), rng)
        chats = [
            (await _chat(http, bases[n % 2], m[0], "dialog" if len(m) == 2 else "group", m[1:]), m)
            for n, m in enumerate(drawn)
        ]
        listener = Listener()
        for n, person in enumerate(people):
            for tab in range(args.tabs):
                person.sockets.append(await listener.open(bases[(n + tab) % 2], person.token))
        await asyncio.sleep(3)  # the presence events of the new sockets settle
        memberships = sum(len(m) for _, m in chats)
        sizes = sorted(len(m) for _, m in chats if len(m) > 2)
        lines.append(
            f"community: {len(people)} people x {args.tabs} tabs = {len(listener.sockets)} sockets "
            "over 2 processes; "
            f"{len(drawn) - len(sizes)} dialogs + {len(sizes)} groups (members {sizes[0]}-{sizes[-1]}, "
            f"median {statistics.median(sizes):g}); {memberships / len(people):.1f} chats per person"
        )
        result = await _phase(
            http, bases, listener, chats, rate=args.rate, seconds=args.seconds, first_seq=1_000_000, rng=rng
        )
        lines.append(_line(f"community at {args.rate:g} messages/s", result))
        lines.append(f"  p50 = {result['p50'] / floor_p50:.1f}x the floor p50 ({floor_p50:.1f} ms)")
        lines.append(f"  sockets closed by the server by the end of it: {listener.closed()}")
        ok &= result["missing"] == 0 and not result["failed"]

        # 3. stress: everybody in one group.
        if args.stress_rate > 0:
            everyone = await _chat(http, bases[0], people[0], "group", people[1:])
            await asyncio.sleep(1)
            result = await _phase(
                http,
                bases,
                listener,
                [(everyone, people)],
                rate=args.stress_rate,
                seconds=args.stress_seconds,
                first_seq=2_000_000,
                rng=rng,
            )
            lines.append(
                _line(
                    f"STRESS, all {len(people)} people in ONE group, every socket every message, "
                    f"at {args.stress_rate:g} messages/s",
                    result,
                )
            )
            ok &= result["missing"] == 0 and not result["failed"]
        lines.append(f"sockets closed by the server by the end of the run: {listener.closed()}")
        await listener.close()
        for failure in sorted(set(result["failed"]))[:5]:
            lines.append(f"    {failure}")
    return lines, ok


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
            lines, ok = await measure(args, [servers[0].url, servers[1].url])
        finally:
            for server in servers:
                server.stop()
            if args.keep_logs:
                for name in ("server0.log", "server1.log"):
                    shutil.copy(tmp / name, Path(args.keep_logs) / name)
            await harness.drop_database("postgresql")
    print("messenger fan-out, 2 uvicorn processes, PostgreSQL + Redis (driver on the same machine):")
    for line in lines:
        print(f"  {line}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(main_async(parse_args(argv)))
    except harness.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
