"""Real uvicorn server processes for multi-process tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_env(values: dict[str, object]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASIS_") or k.startswith("BASIS_TEST_")}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"BASIS_{key.upper()}"] = str(value)
    env["PYTHONPATH"] = str(ROOT)
    return env


@contextmanager
def run_servers(count: int, values: dict[str, object], log_dir: Path) -> Iterator[list[str]]:
    procs: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    env = settings_env(values)
    try:
        for index in range(count):
            port = free_port()
            log_path = log_dir / f"server_{index}_{port}.log"
            log_file = log_path.open("wb")
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "uvicorn", "--factory", "tests.support.server:create",
                    "--host", "127.0.0.1", "--port", str(port), "--no-server-header",
                    "--log-level", "warning", "--loop", "uvloop", "--http", "httptools",
                ],
                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            )
            log_file.close()  # the server process keeps its own descriptor
            procs.append((proc, f"http://127.0.0.1:{port}", log_path))
        for proc, url, log_path in procs:
            _wait_ready(proc, url, log_path)
        yield [url for _, url, _ in procs]
    finally:
        for proc, _, _ in procs:
            proc.terminate()
        for proc, _, _ in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {url} exited: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server {url} not ready after {timeout}s: {log_path.read_text()[-3000:]}")
