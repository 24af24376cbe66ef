"""What a fault test needs around Basis: server processes it can kill -9 and start again, a
redis-server of its own it can kill and start again empty, and a steady load that records what
every call answered and when."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.live import ROOT, free_port, settings_env


class ServerProcess:
    """One uvicorn process of Basis on a fixed port, started again on the same port after a kill."""

    def __init__(self, index: int, values: dict[str, object], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"server_{index}_{self.port}.log"
        self.env = settings_env(values)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "--factory", "tests.support.server:create",
                    "--host", "127.0.0.1", "--port", str(self.port), "--no-server-header",
                    "--log-level", "warning", "--loop", "uvloop", "--http", "httptools",
                ],
                cwd=ROOT, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip

    async def ready(self, timeout: float = 90) -> None:
        """Waits without blocking the loop (the test's proxy runs on it)."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.url} exited: {self.log_path.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.url} not ready after {timeout}s: {self.log_path.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


class RedisServer:
    """A redis-server without persistence (no RDB, no AOF): started again, it is empty."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.log_path.parent)],
                stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {self.log_path.read_text()[-2000:]}")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class Call:
    kind: str
    server: int
    at: float
    status: int | str
    """The HTTP status, or ``"no answer"`` when the connection failed (a killed process)."""
    retry_after: bool = False


@dataclass
class Recorder:
    calls: list[Call] = field(default_factory=list)

    def add(self, kind: str, server: int, answer: httpx.Response | None) -> None:
        if answer is None:
            self.calls.append(Call(kind, server, time.monotonic(), "no answer"))
        else:
            retry = "retry-after" in answer.headers and int(answer.headers["retry-after"]) > 0
            self.calls.append(Call(kind, server, time.monotonic(), answer.status_code, retry))

    def between(self, start: float, end: float) -> list[Call]:
        return [c for c in self.calls if start <= c.at <= end]

    def summary(self, start: float, end: float) -> dict[str, Counter[str]]:
        table: dict[str, Counter[str]] = {}
        for call in self.between(start, end):
            status = call.status
            label = "2xx" if isinstance(status, int) and status < 300 else str(status)
            table.setdefault(call.kind, Counter())[label] += 1
        return table

    def recovered_after(self, kind: str, since: float, server: int | None = None) -> float | None:
        """Seconds from ``since`` to the first 2xx of ``kind`` after it (on ``server``)."""
        for call in self.calls:
            if call.kind == kind and call.at >= since and (server is None or call.server == server):
                if isinstance(call.status, int) and call.status < 300:
                    return call.at - since
        return None


@dataclass
class Load:
    """Terminals scanning (each scan resent until acknowledged, some resent once more after),
    a user logging in, and an admin reading, spread over every server."""

    servers: list[ServerProcess]
    terminal_keys: list[str]
    uids: list[str]
    admin_token: str
    login: dict[str, str]
    record: Recorder = field(default_factory=Recorder)
    acknowledged: dict[str, int] = field(default_factory=dict)
    replays_differing: list[str] = field(default_factory=list)
    pace: float = 0.03
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _call(
        self, http: httpx.AsyncClient, kind: str, server: int, method: str, path: str, **kwargs: object
    ) -> httpx.Response | None:
        try:
            answer = await http.request(method, f"{self.servers[server].url}{path}", **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            answer = None
        self.record.add(kind, server, answer)
        if answer is None or answer.status_code >= 300:
            await asyncio.sleep(0.15)  # a client backs off; Retry-After would make it 5 s
        return answer

    async def _scanner(self, number: int) -> None:
        key = {"X-Terminal-Key": self.terminal_keys[number % len(self.terminal_keys)]}
        server, sequence = number % len(self.servers), 0
        async with httpx.AsyncClient(timeout=10) as http:
            while not self._stop.is_set():
                sequence += 1
                event = f"t{number}-{sequence}"
                body = {"uid": self.uids[sequence % len(self.uids)], "client_event_id": event}
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # resent until acknowledged, as a terminal does
                    answer = await self._call(
                        http, "scan", server, "POST", "/api/terminal/scan", json=body, headers=key
                    )
                    if answer is not None and answer.status_code < 300:
                        self.acknowledged[event] = answer.json()["event_id"]
                        break
                    if answer is None:  # that process is gone: the balancer sends it elsewhere
                        server = (server + 1) % len(self.servers)
                if event in self.acknowledged and sequence % 4 == 0:
                    again = await self._call(
                        http, "scan resend", server, "POST", "/api/terminal/scan", json=body, headers=key
                    )
                    if (
                        again is not None
                        and again.status_code < 300
                        and again.json()["event_id"] != self.acknowledged[event]
                    ):
                        self.replays_differing.append(event)
                server = (server + 1) % len(self.servers)
                await asyncio.sleep(self.pace)

    async def _reader(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with httpx.AsyncClient(timeout=10) as http:
            turn = number
            while not self._stop.is_set():
                turn += 1
                path = "/auth/me" if turn % 2 else "/api/employees"
                await self._call(http, "read", turn % len(self.servers), "GET", path, headers=headers)
                await asyncio.sleep(self.pace)

    async def _logger_in(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            turn = 0
            while not self._stop.is_set():
                turn += 1
                await self._call(
                    http, "login", turn % len(self.servers), "POST", "/auth/login", json=self.login
                )
                http.cookies.clear()
                await asyncio.sleep(self.pace * 3)

    @contextlib.asynccontextmanager
    async def running(self, scanners: int = 3, readers: int = 2) -> AsyncIterator[Load]:
        tasks = [asyncio.create_task(self._scanner(n)) for n in range(scanners)]
        tasks += [asyncio.create_task(self._reader(n)) for n in range(readers)]
        tasks.append(asyncio.create_task(self._logger_in()))
        try:
            yield self
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)
