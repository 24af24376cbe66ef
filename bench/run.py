"""Basis bench: one real server process, load from wrk in a second process, ratios to the floor.

    .venv/bin/python -m bench.run [--db sqlite|postgresql|mariadb] [--scenarios core,identity,...]
                                  [--duration 10] [--connections 64] [--threads 2]

It creates a fresh database, runs ``basis migrate``, starts one ``uvicorn`` process (uvloop,
httptools) of ``basis.main:create_app``, measures the floor (``GET /health``) first, every
scenario, then the floor again, and prints each figure as a ratio to the floor of the same run.
Everything it started (server, wrk, temporary folder, bench database) is gone when it exits,
also on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from bench import scenarios as scenarios_package
from bench.scenarios import BenchContext, Scenario, Timed

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
BENCH_DB = "basis_bench"
ADMIN_URLS = {
    "postgresql": os.environ.get(
        "BASIS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("BASIS_BENCH_MARIADB_URL", "mysql+asyncmy://root@127.0.0.1:3306/mysql"),
}
START_HINTS = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mariadb": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}
FIRST_MODULES = ("core", "identity")
SERVER_START_SECONDS = 60
RESULT_MARK = "BENCH_RESULT "


class BenchError(Exception):
    """A problem the user can fix; printed as one line."""


# ---------------------------------------------------------------- scenario modules


def available_modules() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules(scenarios_package.__path__) if not m.name.startswith("_")]
    first = [n for n in FIRST_MODULES if n in names]
    return first + sorted(n for n in names if n not in FIRST_MODULES)


def load_modules(selected: str | None) -> list[tuple[str, ModuleType]]:
    names = available_modules()
    chosen = names if not selected else [s.strip() for s in selected.split(",") if s.strip()]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise BenchError(f"unknown scenario module(s) {', '.join(unknown)}; present: {', '.join(names)}")
    return [(n, importlib.import_module(f"bench.scenarios.{n}")) for n in chosen]


# ---------------------------------------------------------------- database


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def create_database(db: str, tmp: Path) -> str:
    """A fresh, empty bench database; returns its URL."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}"
    from sqlalchemy.engine import make_url

    from basis.core.db import normalise_url

    admin = make_url(normalise_url(ADMIN_URLS[db]))
    if not _port_open(admin.host or "127.0.0.1", admin.port or (5432 if db == "postgresql" else 3306)):
        raise BenchError(f"{db} is not reachable at {admin.host}:{admin.port}; start it: {START_HINTS[db]}")
    await _admin_execute(db, _recreate_statements(db))
    return admin.set(database=BENCH_DB).render_as_string(hide_password=False)


def _recreate_statements(db: str) -> list[str]:
    if db == "postgresql":
        return [f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)', f'CREATE DATABASE "{BENCH_DB}"']
    return [
        f"DROP DATABASE IF EXISTS `{BENCH_DB}`",
        f"CREATE DATABASE `{BENCH_DB}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    ]


async def drop_database(db: str) -> None:
    if db == "sqlite":
        return
    quoted = f'"{BENCH_DB}" WITH (FORCE)' if db == "postgresql" else f"`{BENCH_DB}`"
    await _admin_execute(db, [f"DROP DATABASE IF EXISTS {quoted}"])


async def _admin_execute(db: str, statements: list[str]) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from basis.core.db import normalise_url

    engine = create_async_engine(
        normalise_url(ADMIN_URLS[db]), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await asyncio.wait_for(conn.execute(text(statement)), timeout=60)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(
    *,
    database_url: str,
    data_dir: Path,
    apps: list[str],
    public_url: str,
    redis_url: str | None,
    admin_email: str,
    admin_password: str,
) -> dict[str, str]:
    # The developer's own BASIS_* settings never leak into the measured server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_")}
    env.update(
        {
            "BASIS_ENV": "dev",
            "BASIS_DATABASE_URL": database_url,
            "BASIS_DATA_DIR": str(data_dir),
            "BASIS_APPS": ",".join(apps),
            "BASIS_JWT_SECRETS": secrets.token_urlsafe(36),
            "BASIS_ADMIN_SESSION_SECRET": secrets.token_urlsafe(36),
            "BASIS_RATE_LIMITS_ENABLED": "false",
            "BASIS_LOG_LEVEL": "WARNING",
            "BASIS_PASSWORD_HASH_PROFILE": "production",
            "BASIS_REGISTRATION": "open",
            "BASIS_ADMIN_EMAIL": admin_email,
            "BASIS_ADMIN_PASSWORD": admin_password,
            "BASIS_ACCESS_TOKEN_MINUTES": "240",
            "BASIS_PUBLIC_URL": public_url,
        }
    )
    if redis_url:
        env["BASIS_REDIS_URL"] = redis_url
    return env


def use_server_env(database_url: str, tmp: Path, apps: list[str], public_url: str) -> dict[str, str]:
    """``server_env`` in this process's own environment, for a bench that runs Basis in-process
    (no Redis, a random admin); returns a copy for ``run_basis``."""
    os.environ.update(
        server_env(
            database_url=database_url,
            data_dir=tmp / "data",
            apps=apps,
            public_url=public_url,
            redis_url=None,
            admin_email=f"bench-{'-'.join(apps)}@example.com",
            admin_password=secrets.token_urlsafe(16),
        )
    )
    return dict(os.environ)


async def run_basis(env: dict[str, str], cwd: Path, *args: str, time_limit: float = 900) -> str:
    """``basis <args>`` in a subprocess with the server's settings; its output, or BenchError."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basis.cli",
        *args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=time_limit)
    except BaseException:
        _kill(proc)
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"`basis {' '.join(args)}` failed ({proc.returncode}): {text.strip()[-1500:]}")
    return text


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)


def start_server(
    env: dict[str, str], cwd: Path, port: int, factory: str = "basis.main:create_app", name: str = "server"
) -> Server:
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Server(proc, f"http://127.0.0.1:{port}", log_path)


async def wait_healthy(server: Server) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise BenchError(f"the server exited ({server.proc.returncode}):\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{server.url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise BenchError(
        f"the server did not answer /health within {SERVER_START_SECONDS}s:\n{server.log_tail()}"
    )


# ---------------------------------------------------------------- wrk scripts


def lua_str(value: str) -> str:
    out = []
    for byte in value.encode():
        char = chr(byte)
        if char in '"\\' or byte < 32 or byte > 126:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def to_lua(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return lua_str(value)
    if isinstance(value, list | tuple):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{to_lua(str(k))}] = {to_lua(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot pass {type(value).__name__} to Lua")


DONE_LUA = f"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{RESULT_MARK}{{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class Request:
    """A scenario after its setup: what wrk sends."""

    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    lua_vars: dict[str, Any] = field(default_factory=dict)


def resolve(scenario: Scenario, prepared: dict[str, Any]) -> Request:
    headers = {**scenario.headers, **prepared.get("headers", {})}
    body = prepared.get("body", scenario.body)
    if isinstance(body, dict | list):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    return Request(
        scenario.method, prepared.get("path", scenario.path), headers, body, prepared.get("lua_vars", {})
    )


def wrk_script(scenario: Scenario, request: Request, threads: int) -> str:
    lines = [f"-- {scenario.name}"]
    lines += [f"{name} = {to_lua(value)}" for name, value in request.lua_vars.items()]
    bench = {"method": request.method, "path": request.path, "headers": request.headers, "body": request.body}
    lines.append(f"bench = {to_lua(bench)}")
    lines.append(f"bench.threads = {threads}")
    # wrk runs setup() in its main Lua state and each thread in a state of its own: the thread
    # number makes the per-request counter unique across threads.
    lines.append(
        "bench_thread_count = 0\n"
        "function setup(thread)\n  thread:set('bench_tid', bench_thread_count)\n"
        "  bench_thread_count = bench_thread_count + 1\nend\n"
        "bench_counter = 0\n"
        "function bench_next()\n  bench_counter = bench_counter + 1\n"
        "  return (bench_counter - 1) * bench.threads + (bench_tid or 0) + 1\nend"
    )
    if scenario.lua is not None:
        lines.append(scenario.lua)
    elif scenario.body_lua is not None:
        lines.append(
            "function request()\n  local n = bench_next()\n"
            f"  local body = {scenario.body_lua}\n"
            "  return wrk.format(bench.method, bench.path, bench.headers, body)\nend"
        )
    else:
        # Static requests: wrk builds the request once, the cheapest way to drive the server.
        lines.append("wrk.method = bench.method\nwrk.path = bench.path\nwrk.body = bench.body")
        lines.append("for k, v in pairs(bench.headers) do wrk.headers[k] = v end")
    lines.append(DONE_LUA)
    return "\n".join(lines) + "\n"


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status_errors: int
    socket_errors: int
    connections: int


async def run_wrk(
    *, url: str, script: Path, threads: int, connections: int, duration: int, request_timeout: int | None
) -> LoadResult:
    threads = max(1, min(threads, connections))
    args = ["-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency", "-s", str(script)]
    if request_timeout is not None:
        args += ["--timeout", f"{request_timeout}s"]
    proc = await asyncio.create_subprocess_exec(
        wrk_path(), *args, url, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=duration + (request_timeout or 2) + 60)
    except BaseException:
        _kill(proc)
        await proc.wait()
        raise
    text = out.decode(errors="replace")
    marked = [line for line in text.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not marked:
        raise BenchError(f"wrk failed ({proc.returncode}): {text.strip()[-1500:]}")
    data = json.loads(marked[-1][len(RESULT_MARK) :])
    seconds = data["duration_us"] / 1e6
    return LoadResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        max_ms=data["max"] / 1000,
        status_errors=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        connections=connections,
    )


def wrk_path() -> str:
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if found is None:
        raise BenchError("wrk is not installed: apt-get install wrk (./run test installs it as root)")
    return found


# ---------------------------------------------------------------- running scenarios


@dataclass
class Outcome:
    module: str
    name: str
    kind: str
    note: str = ""
    load: LoadResult | None = None
    expect: int = 200
    timed_ms: list[float] = field(default_factory=list)
    error: str | None = None


class Runner:
    def __init__(
        self, args: argparse.Namespace, server: Server, ctx: BenchContext, tmp: Path, probe: Any = None
    ) -> None:
        self.args = args
        self.server = server
        self.ctx = ctx
        self.tmp = tmp
        self.count = 0
        self.probe = probe if probe is not None else ctx.client

    async def load(self, module: str, scenario: Scenario, duration: int | None = None) -> Outcome:
        outcome = Outcome(module, scenario.name, "load", scenario.note, expect=scenario.expect)
        try:
            prepared = await scenario.setup(self.ctx) if scenario.setup else {}
            request = resolve(scenario, prepared)
            if scenario.lua is None and scenario.body_lua is None:
                await self._probe(scenario, request)
            self.count += 1
            script = self.tmp / f"scenario_{self.count}.lua"
            script.write_text(wrk_script(scenario, request, self.args.threads))
            outcome.load = await run_wrk(
                url=self.server.url + request.path,
                script=script,
                threads=self.args.threads,
                connections=scenario.connections or self.args.connections,
                duration=duration or self.args.duration,
                request_timeout=scenario.timeout,
            )
        except (BenchError, Exception) as exc:  # one broken scenario must not hide the others
            outcome.error = _one_line(exc)
        if self.server.proc.poll() is not None:
            raise BenchError(f"the server died during {scenario.name!r}:\n{self.server.log_tail()}")
        return outcome

    async def _probe(self, scenario: Scenario, request: Request) -> None:
        response = await self.probe.request(
            request.method, request.path, headers=request.headers, content=request.body
        )
        status = response.status_code
        ok = 200 <= status < 300 if 200 <= scenario.expect < 300 else status == scenario.expect
        if not ok:
            raise BenchError(
                f"expected {scenario.expect}, the server answered {status}: {response.text[:300]}"
            )

    async def timed(self, module: str, scenario: Timed) -> Outcome:
        outcome = Outcome(module, scenario.name, "timed", scenario.note)
        try:
            prepared = await scenario.setup(self.ctx) if scenario.setup else {}
            for _ in range(scenario.warmup):
                await scenario.call(self.ctx, prepared)
            for _ in range(max(1, scenario.repeat)):
                started = time.perf_counter()
                result = await scenario.call(self.ctx, prepared)
                outcome.timed_ms.append((time.perf_counter() - started) * 1000)
                if scenario.check is not None:
                    scenario.check(result)
        except (BenchError, Exception) as exc:
            outcome.error = _one_line(exc)
        return outcome


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, BenchError) else text


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_bench(args: argparse.Namespace) -> int:
    import httpx

    from bench.scenarios.core import FLOOR

    wrk_path()
    modules = load_modules(args.scenarios)
    apps = _apps(args, modules)
    only = [s.strip().lower() for s in (args.only or "").split(",") if s.strip()]
    chosen = [
        (name, scenario)
        for name, module in modules
        for scenario in getattr(module, "SCENARIOS", [])
        if not only or any(word in scenario.name.lower() for word in only)
    ]
    if args.list:
        for name, scenario in chosen:
            print(f"{name:12} {'timed' if isinstance(scenario, Timed) else 'load ':5}  {scenario.name}")
        return 0

    args.load_before = round(os.getloadavg()[0], 2)
    tmp = Path(tempfile.mkdtemp(prefix="basis-bench-"))
    server: Server | None = None
    reference: Server | None = None
    created_db = False
    try:
        _progress(f"bench: creating the {args.db} database")
        database_url = await create_database(args.db, tmp)
        created_db = True
        port = free_port()
        admin_email, admin_password = "bench-admin@example.com", "bench-" + secrets.token_urlsafe(18)
        env = server_env(
            database_url=database_url,
            data_dir=tmp / "data",
            apps=apps,
            public_url=f"http://127.0.0.1:{port}",
            redis_url=args.redis,
            admin_email=admin_email,
            admin_password=admin_password,
        )
        _progress("bench: basis migrate")
        await run_basis(env, tmp, "migrate", time_limit=600)
        server = start_server(env, tmp, port)
        paths = [str(ROOT), env.get("PYTHONPATH")]
        reference_env = {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        reference = start_server(
            reference_env, tmp, free_port(), factory="bench.reference:create_app", name="reference"
        )
        await wait_healthy(server)
        await wait_healthy(reference)
        _progress(f"bench: server ready at {server.url} (apps: {', '.join(apps) or 'core only'})")
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=120) as client,
            httpx.AsyncClient(base_url=reference.url, timeout=30) as reference_client,
        ):
            ctx = BenchContext(
                base_url=server.url,
                client=client,
                backend=args.db,
                database_url=database_url,
                env=env,
                tmp=tmp,
                admin_email=admin_email,
                admin_password=admin_password,
                run_cli=lambda *a, time_limit=900: run_basis(env, tmp, *a, time_limit=time_limit),
            )
            runner = Runner(args, server, ctx, tmp)
            bare = Runner(args, reference, ctx, tmp, probe=reference_client)
            reference_scenario = replace(FLOOR, name="reference: bare FastAPI GET /health")
            try:
                if args.warmup > 0:
                    _progress(f"bench: warming up for {args.warmup}s")
                    await runner.load("core", FLOOR, duration=args.warmup)
                    await bare.load("reference", reference_scenario, duration=args.warmup)
                reference_first = await _measured(bare, "reference", reference_scenario)
                floor_first = await _measured(runner, "core", replace(FLOOR, name=FLOOR.name + " (first)"))
                outcomes = []
                for module, scenario in chosen:
                    if isinstance(scenario, Timed):
                        outcome = await _timed(runner, module, scenario)
                    else:
                        outcome = await _measured(runner, module, scenario)
                    outcomes.append(outcome)
                floor_last = await _measured(runner, "core", replace(FLOOR, name=FLOOR.name + " (last)"))
                reference_last = await _measured(bare, "reference", reference_scenario)
                pairs = await _pairs(args, runner, bare, FLOOR, reference_scenario)
            finally:
                await ctx.close()
        if floor_first.load is None or floor_last.load is None:
            raise BenchError(f"the floor could not be measured: {floor_first.error or floor_last.error}")
        references = (reference_first, reference_last)
        report = build_report(args, apps, floor_first, floor_last, outcomes, references)
        if report["reference"] is not None:
            report["reference"]["pairs"] = [round(r, 4) for r in pairs]
            report["reference"]["floor_x_reference_paired"] = (
                round(statistics.median(pairs), 4) if pairs else None
            )
        print_report(report)
        write_report(report)
        return 1 if any(o.error for o in outcomes) else 0
    finally:
        if reference is not None:
            reference.stop()
        if server is not None:
            server.stop()
        try:
            if created_db and not args.keep_db:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(drop_database(args.db), timeout=60)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


async def _pairs(
    args: argparse.Namespace, runner: Runner, bare: Runner, floor: Scenario, reference: Scenario
) -> list[float]:
    """Basis's floor / the reference, measured ``--pairs`` times back to back in alternating
    order (reference first, then Basis first, ...), so that a machine whose speed drifts during
    the run (other processes, CPU boost) affects both sides of each pair alike. The median of the
    pairs is the figure to quote on a noisy machine."""
    seconds = max(3, args.duration // 2)
    ratios: list[float] = []
    for i in range(args.pairs):
        _progress(f"bench: pair {i + 1}/{args.pairs}: floor and reference, {seconds}s each")
        sides = [(bare, "reference", reference), (runner, "core", floor)]
        results = {}
        for side_runner, module, scenario in sides if i % 2 == 0 else sides[::-1]:
            outcome = await side_runner.load(module, scenario, duration=seconds)
            results[module] = outcome.load.rps if outcome.load is not None else None
        if results["reference"] and results["core"]:
            ratios.append(results["core"] / results["reference"])
    return ratios


async def _measured(runner: Runner, module: str, scenario: Scenario) -> Outcome:
    _progress(f"bench: {scenario.name} ...")
    outcome = await runner.load(module, scenario)
    if outcome.error:
        _progress(f"  failed: {outcome.error}")
    elif outcome.load:
        load = outcome.load
        _progress(f"  {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms")
    return outcome


async def _timed(runner: Runner, module: str, scenario: Timed) -> Outcome:
    _progress(f"bench: {scenario.name} (timed) ...")
    outcome = await runner.timed(module, scenario)
    if outcome.error:
        _progress(f"  failed: {outcome.error}")
    else:
        _progress(f"  median {statistics.median(outcome.timed_ms):.1f} ms over {len(outcome.timed_ms)} calls")
    return outcome


def _apps(args: argparse.Namespace, modules: list[tuple[str, ModuleType]]) -> list[str]:
    if args.apps is not None:
        return [a.strip() for a in args.apps.split(",") if a.strip()]
    apps: list[str] = []
    for _, module in modules:
        for app in getattr(module, "APPS", []):
            if app not in apps:
                apps.append(app)
    return apps


# ---------------------------------------------------------------- report


def _load_dict(result: LoadResult) -> dict[str, Any]:
    return {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 3),
        "p90_ms": round(result.p90_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "max_ms": round(result.max_ms, 3),
        "requests": result.requests,
        "seconds": round(result.seconds, 2),
        "status_errors": result.status_errors,
        "socket_errors": result.socket_errors,
        "connections": result.connections,
    }


def build_report(
    args: argparse.Namespace,
    apps: list[str],
    first: Outcome,
    last: Outcome,
    outcomes: list[Outcome],
    references: tuple[Outcome, Outcome] | None = None,
) -> dict[str, Any]:
    assert first.load is not None and last.load is not None
    floor_rps = (first.load.rps + last.load.rps) / 2
    floor_p50 = (first.load.p50_ms + last.load.p50_ms) / 2
    floor_p99 = (first.load.p99_ms + last.load.p99_ms) / 2
    rows: list[dict[str, Any]] = []
    for o in outcomes:
        row: dict[str, Any] = {"module": o.module, "name": o.name, "kind": o.kind, "note": o.note}
        if o.error:
            row["error"] = o.error
        elif o.load is not None:
            row.update(_load_dict(o.load))
            row["ratio"] = round(o.load.rps / floor_rps, 4) if floor_rps else None
            row["expect"] = o.expect
            expected_errors = o.expect >= 400
            row["errors"] = o.load.socket_errors + (0 if expected_errors else o.load.status_errors)
        else:
            row.update(
                median_ms=round(statistics.median(o.timed_ms), 3),
                min_ms=round(min(o.timed_ms), 3),
                max_ms=round(max(o.timed_ms), 3),
                calls=len(o.timed_ms),
                x_floor_p50=round(statistics.median(o.timed_ms) / floor_p50, 1) if floor_p50 else None,
            )
        rows.append(row)
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "db": args.db,
        "redis": bool(args.redis),
        "apps": apps,
        "git": _git_commit(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_average_before": args.load_before,
        "server": "1 uvicorn process, uvloop, httptools, no access log",
        "wrk": {"threads": args.threads, "connections": args.connections, "duration_s": args.duration},
        "floor": {
            "rps": round(floor_rps, 1),
            "p50_ms": round(floor_p50, 3),
            "p99_ms": round(floor_p99, 3),
            "drift_pct": round((last.load.rps - first.load.rps) / first.load.rps * 100, 1),
            "first": _load_dict(first.load),
            "last": _load_dict(last.load),
        },
        "reference": _reference(references, floor_rps),
        "scenarios": rows,
    }


def _reference(references: tuple[Outcome, Outcome] | None, floor_rps: float) -> dict[str, Any] | None:
    """The bare FastAPI app's mean before and after, and Basis's floor as a share of it."""
    loads = [o.load for o in references or () if o.load is not None]
    if not loads:
        return None
    rps = sum(load.rps for load in loads) / len(loads)
    return {
        "rps": round(rps, 1),
        "p50_ms": round(sum(load.p50_ms for load in loads) / len(loads), 3),
        "runs": [_load_dict(load) for load in loads],
        "floor_x_reference": round(floor_rps / rps, 4) if rps else None,
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def print_report(report: dict[str, Any]) -> None:
    floor = report["floor"]
    rows = report["scenarios"]
    load_rows = [r for r in rows if r["kind"] == "load"]
    timed_rows = [r for r in rows if r["kind"] == "timed"]
    wrk = report["wrk"]
    print()
    print(
        f"Basis bench on {report['db']}{' + redis' if report['redis'] else ''}: {report['server']}; "
        f"wrk -t{wrk['threads']} -c{wrk['connections']} -d{wrk['duration_s']}s; "
        f"Python {report['python']}, {report['cores']} cores (load average {report['load_average_before']} "
        f"before the run), commit {report['git'] or '-'}"
    )
    width = max([len(r["name"]) for r in rows] + [len("floor: GET /health (mean)")]) + 2
    print(f"{'scenario':{width}}{'req/s':>11}{'p50 ms':>10}{'p99 ms':>10}{'x floor':>9}{'errors':>8}")
    first, last = floor["first"], floor["last"]
    for label, data in (("(first)", first), ("(last)", last)):
        name = "floor: GET /health " + label
        print(f"{name:{width}}{data['rps']:>11,.0f}{data['p50_ms']:>10.2f}{data['p99_ms']:>10.2f}")
    print(
        f"{'floor: GET /health (mean)':{width}}{floor['rps']:>11,.0f}{floor['p50_ms']:>10.2f}"
        f"{floor['p99_ms']:>10.2f}{'1.00':>9}"
    )
    for r in load_rows:
        if "error" in r:
            print(f"{r['name']:{width}}  FAILED: {r['error']}")
            continue
        errors = str(r["errors"])
        expected = f"  [{r['status_errors']} x {r['expect']}, as expected]" if r["expect"] >= 400 else ""
        conns = f"  [{r['connections']} conns]" if r["connections"] != wrk["connections"] else ""
        print(
            f"{r['name']:{width}}{r['rps']:>11,.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}"
            f"{r['ratio']:>9.3f}{errors:>8}{conns}{expected}"
        )
    reference = report.get("reference")
    if reference:
        name = "reference: bare FastAPI /health"
        print(
            f"{name:{width}}{reference['rps']:>11,.0f}{reference['p50_ms']:>10.2f}{'':>10}"
            f"{reference['rps'] / floor['rps']:>9.3f}"
            f"  [Basis floor x reference: {reference['floor_x_reference']:.3f}]"
        )
        pairs = reference.get("pairs")
        if pairs:
            print(
                f"Basis floor x reference, {len(pairs)} alternating pairs: median "
                f"{reference['floor_x_reference_paired']:.3f} (pairs: {', '.join(f'{r:.3f}' for r in pairs)})"
            )
    drift = floor["drift_pct"]
    noisy = "  (noisy machine: treat the figures as rough)" if abs(drift) > 10 else ""
    print(f"floor drift first -> last: {drift:+.1f}%{noisy}")
    if report["cores"] and report["load_average_before"] > report["cores"]:
        print(
            f"note: the machine was busy before the run (load average {report['load_average_before']} on "
            f"{report['cores']} cores): other processes took CPU from the server and wrk"
        )
    if timed_rows:
        print("\ntimed: the median latency of single calls against the floor's p50 (not a throughput ratio)")
        for r in timed_rows:
            if "error" in r:
                print(f"  {r['name']}: FAILED: {r['error']}")
                continue
            print(
                f"  {r['name']}: median {r['median_ms']:.1f} ms over {r['calls']} calls "
                f"(min {r['min_ms']:.1f}, max {r['max_ms']:.1f}) = {r['x_floor_p50']}x the floor's p50 "
                f"({floor['p50_ms']:.2f} ms)"
            )
    failed = [r for r in rows if "error" in r]
    if failed:
        print(f"\n{len(failed)} scenario(s) failed; see above.")


def write_report(report: dict[str, Any]) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    (RESULTS_DIR / "latest.json").write_text(text)
    (RESULTS_DIR / f"latest-{report['db']}.json").write_text(text)
    print(f"\nwrote {(RESULTS_DIR / 'latest.json').relative_to(ROOT)}")


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "mariadb"], default="sqlite")
    parser.add_argument(
        "--scenarios",
        help=f"comma-separated modules of bench/scenarios (default: all: {','.join(available_modules())})",
    )
    parser.add_argument("--only", help="only scenarios whose name contains one of these words (a,b)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument(
        "--pairs", type=int, default=3, help="alternating floor/reference pairs at the end (default 3)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unreported load first (default 2)")
    parser.add_argument("--apps", help="BASIS_APPS for the server (default: what the chosen modules need)")
    parser.add_argument("--redis", metavar="URL", help="run the server with BASIS_REDIS_URL=URL")
    parser.add_argument("--keep-db", action="store_true", help="leave the basis_bench database behind")
    parser.add_argument("--list", action="store_true", help="list the chosen scenarios and exit")
    args = parser.parse_args(argv)
    for name in ("duration", "connections", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.duration > 600:
        parser.error("--duration is capped at 600 seconds")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import basis  # noqa: F401
    except ImportError:
        print(
            "error: basis is not importable: use .venv/bin/python (./run serve installs it)", file=sys.stderr
        )
        return 2

    interrupted: list[int] = []

    async def guarded() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def stop(signum: int) -> None:
            # Ctrl-C reaches the server and wrk too (same process group): whatever fails next
            # is a consequence of the interruption, not an error to report.
            interrupted.append(signum)
            if task is not None:
                task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop, signum)
        return await run_bench(args)

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted.append(signal.SIGINT)
    except BenchError as exc:
        if not interrupted:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print("bench: interrupted; everything it started is stopped", file=sys.stderr)
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
