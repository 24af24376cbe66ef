"""Schemathesis against the app's own OpenAPI on a real server: no input may cause a 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

# Calls that would end the fuzzer's own session; they are fuzzed in the anonymous run.
SESSION_ENDING = r"/auth/(logout|logout-all|sessions|password/change)|/users/\{"


def schemathesis(base_url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
            "--checks", "not_a_server_error", "--max-examples", "15", "--seed", "20261122",
            "--max-time", "240", "--request-timeout", "20", "--workers", "2",
            "--report-dir", str(tmp_path / "schemathesis"), "--warnings", "off", *extra,
        ],
        capture_output=True, text=True, timeout=600, check=False,
    )


async def test_no_input_causes_a_server_error(
    live_servers: Callable[..., Any], make_user: Callable[..., Any], tmp_path: Path
) -> None:
    user = await make_user(role="admin", password="contract-test-password-1")
    with live_servers(1, rate_limits_enabled=False) as (url,):
        login = httpx.post(f"{url}/auth/login", json={"email": user.email, "password": "contract-test-password-1"})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        authed = schemathesis(
            url, tmp_path, "-H", f"Authorization: Bearer {token}", "--exclude-path-regex", SESSION_ENDING
        )
        assert authed.returncode == 0, authed.stdout[-6000:]
        anonymous = schemathesis(url, tmp_path)
        assert anonymous.returncode == 0, anonymous.stdout[-6000:]
