"""Real server processes: the mobile app's own sync client (WatermelonDB from npm) against a live
server, conflicting pushes through two processes, and a server log free of secrets."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.apps.hemoday.conftest import PASSWORD, transfusion
from tests.security.helpers import Mailbox
from tests.support.live import free_port

pytestmark = pytest.mark.slow

CLIENT_DIR = Path(__file__).parent / "watermelon"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must have it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def watermelon() -> Path:
    """The client's packages, installed once per lock file with ``npm ci`` into a cache folder."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("Node.js and npm are needed to run the WatermelonDB client")
    lock = (CLIENT_DIR / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "basis"
    target = cache / f"hemoday-watermelon-{hashlib.sha256(lock).hexdigest()[:16]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with (cache / "hemoday-watermelon.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # pytest-xdist workers install one at a time
        if not (target / "node_modules" / "@nozbe" / "watermelondb").is_dir():
            target.mkdir(exist_ok=True)
            for name in ("package.json", "package-lock.json"):
                shutil.copy(CLIENT_DIR / name, target / name)
            try:
                subprocess.run(
                    ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                    cwd=target,
                    check=True,
                    capture_output=True,
                    timeout=300,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                _unavailable(f"npm ci of @nozbe/watermelondb failed (registry unreachable?): {error}")
    shutil.copy(CLIENT_DIR / "scenario.js", target / "scenario.js")
    return target


def run_client(folder: Path, tmp_path: Path, base_url: str, devices: dict[str, str], steps: list[Any]) -> Any:
    out = tmp_path / "client.json"
    spec = {"base_url": base_url, "devices": devices, "steps": steps, "out": str(out)}
    done = subprocess.run(
        ["node", "scenario.js"], cwd=folder, input=json.dumps(spec).encode(), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return json.loads(out.read_text())


def register(base: str, email: str, code: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"email": email, "password": PASSWORD}
    path = "/api/v1/auth/register"
    if code is not None:
        body["invite_code"] = code
        path = "/api/v1/auth/join-family"
    response = httpx.post(base + path, json=body, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def table(state: dict[str, Any], name: str, *keys: str) -> dict[str, tuple[Any, ...]]:
    return {row["id"]: tuple(row[k] for k in keys) for row in state[name]}


async def test_the_mobile_apps_sync_client_converges_and_never_crosses_families(
    live_servers: Callable[..., Any], watermelon: Path, tmp_path: Path
) -> None:
    with live_servers(1, rate_limits_enabled=False) as (base,):
        mum = register(base, "mum@example.com")
        dad = register(base, "dad@example.com", mum["invite_code"])
        other = register(base, "other@example.com")
        devices = {"a": mum["access_token"], "b": dad["access_token"], "c": other["access_token"]}
        t1 = {
            "date": "2026-03-01",
            "component": "Эритроцитная масса",
            "volume": 300,
            "weight": 30,
            "hb_before": 85,
            "hb_after": 120,
            "chelator": "Эксиджад",
        }
        steps = [
            *({"op": "seed", "device": d} for d in "abc"),
            {"op": "sync", "device": "a"},
            {"op": "create", "device": "a", "table": "transfusions", "id": "t1", "values": t1},
            {"op": "sync", "device": "a"},
            {"op": "sync", "device": "b"},
            # Dad's phone is offline: his edits wait on the device.
            {"op": "offline", "device": "b"},
            {
                "op": "create",
                "device": "b",
                "table": "analyses",
                "id": "an1",
                "values": {
                    "name": "Биохимический анализ",
                    "date": "2026-03-05",
                    "template_name": "Биохимический анализ",
                },
            },
            {
                "op": "create",
                "device": "b",
                "table": "analysis_items",
                "id": "it1",
                "values": {"analysis_id": "an1", "name": "Ферритин", "value": "1500", "unit": "нг/мл"},
            },
            {"op": "update", "device": "b", "table": "transfusions", "id": "t1", "values": {"hb_after": 122}},
            {"op": "sync", "device": "b", "may_fail": True},
            {"op": "online", "device": "b"},
            {"op": "sync", "device": "b"},
            {"op": "sync", "device": "a"},
            # Both edit t1; mum's change lands between dad's pull and his push: his push is refused,
            # then his next sync pulls, merges and pushes again.
            {
                "op": "update",
                "device": "a",
                "table": "transfusions",
                "id": "t1",
                "values": {"chelator": "Десферал"},
            },
            {"op": "update", "device": "b", "table": "transfusions", "id": "t1", "values": {"hb_before": 86}},
            {"op": "race", "device": "b", "then": [{"op": "sync", "device": "a"}]},
            {"op": "sync", "device": "b", "may_fail": True},
            {"op": "sync", "device": "b"},
            {"op": "delete", "device": "a", "table": "analysis_items", "id": "it1"},
            {"op": "sync", "device": "a"},
            {"op": "sync", "device": "b"},
            {"op": "sync", "device": "a"},
            {"op": "sync", "device": "c"},
        ]
        result = run_client(watermelon, tmp_path, base, devices, steps)

    log = result["log"]
    assert len(log) == len(steps), log[-1]
    failures = [(entry["index"], entry.get("status")) for entry in log if not entry["ok"]]
    offline_sync, raced_sync = (index for index, step in enumerate(steps) if step.get("may_fail"))
    assert failures == [(offline_sync, None), (raced_sync, 409)], log
    assert "sync_conflict" in log[raced_sync]["error"]

    a, b, c = result["state"]["a"], result["state"]["b"], result["state"]["c"]
    keys = ("volume", "weight", "volume_per_kg", "hb_before", "hb_after", "delta_hb", "chelator")
    assert (
        table(a, "transfusions", *keys)
        == table(b, "transfusions", *keys)
        == {"t1": (300, 30, 10, 86, 122, 36, "Десферал")}
    )
    assert table(a, "analyses", "name", "date") == table(b, "analyses", "name", "date")
    assert list(table(a, "analyses")) == ["an1"]
    assert table(a, "analysis_items") == table(b, "analysis_items") == {}
    # Another family's device gets the global rows and nothing of this family.
    assert c["transfusions"] == [] and c["analyses"] == [] and c["analysis_items"] == []
    assert {row["id"] for row in c["chelator_types"]} == {
        "chel_none_01",
        "chel_desf_01",
        "chel_exja_01",
        "chel_jade_01",
    }


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    try:
        yield box
    finally:
        controller.stop()


async def conflicting_pushes(first: str, second: str) -> list[str]:
    """Of two pushes changing one record with one last_pulled_at, through two processes,
    exactly one wins; the winner's values are stored."""
    mum = register(first, "mum2@example.com")
    dad = register(first, "dad2@example.com", mum["invite_code"])
    auth = {
        name: {"Authorization": f"Bearer {t['access_token']}"} for name, t in (("mum", mum), ("dad", dad))
    }
    async with httpx.AsyncClient(timeout=30) as client:
        ids = [f"t{n}" for n in range(4)]
        created = {"transfusions": {"created": [transfusion(i) for i in ids], "updated": [], "deleted": []}}
        pulled = (await client.get(f"{first}/api/v1/sync", headers=auth["mum"])).json()["timestamp"]
        assert (
            await client.post(
                f"{first}/api/v1/sync",
                json={"changes": created, "last_pulled_at": pulled},
                headers=auth["mum"],
            )
        ).status_code == 200
        since = (await client.get(f"{second}/api/v1/sync", headers=auth["dad"])).json()["timestamp"]

        async def push(base: str, who: str, record_id: str, hb: int) -> int:
            body = {
                "changes": {
                    "transfusions": {
                        "created": [],
                        "updated": [transfusion(record_id, hb_after=hb)],
                        "deleted": [],
                    }
                },
                "last_pulled_at": since,
            }
            return (await client.post(f"{base}/api/v1/sync", json=body, headers=auth[who])).status_code

        outcomes = await asyncio.gather(
            *(push(first, "mum", i, 130) for i in ids), *(push(second, "dad", i, 140) for i in ids)
        )
        final = (await client.get(f"{second}/api/v1/sync", headers=auth["dad"])).json()
    for index, record_id in enumerate(ids):
        pair = sorted((outcomes[index], outcomes[index + len(ids)]))
        assert pair == [200, 409], (record_id, pair)
    rows = {r["id"]: r["hb_after"] for r in final["changes"]["transfusions"]["created"]}
    winners = {i: 130 if outcomes[n] == 200 else 140 for n, i in enumerate(ids)}
    assert rows == winners
    return [mum["access_token"], dad["access_token"]]


async def test_two_processes_conflicting_pushes_and_a_log_without_secrets(
    live_servers: Callable[..., Any], mailbox: Mailbox, tmp_path: Path
) -> None:
    """Two server processes: conflicting pushes through both (one wins), then the accounts'
    calls; no password, reset token or access token reaches either server's log."""
    smtp = {"smtp_host": "127.0.0.1", "smtp_port": mailbox_port(mailbox), "smtp_tls": "none"}
    secrets: list[str] = [PASSWORD, "Wrong-Guess-Of-A-Password-9"]
    with live_servers(2, log_level="DEBUG", rate_limits_enabled=False, **smtp) as (base, second):
        secrets.extend(await conflicting_pushes(base, second))
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            token = register(base, "logs@example.com")["access_token"]
            secrets.append(token)
            await client.post(
                "/api/v1/auth/login", json={"email": "logs@example.com", "password": secrets[1]}
            )
            login = await client.post(
                "/api/v1/auth/login", json={"email": "logs@example.com", "password": PASSWORD}
            )
            secrets.append(login.json()["access_token"])
            headers = {"Authorization": f"Bearer {token}"}
            await client.get("/api/v1/sync", params={"last_pulled_at": "abc"}, headers=headers)
            await client.post(
                "/api/v1/sync",
                json={"changes": {"transfusions": {"created": [transfusion("x")]}}, "last_pulled_at": 0},
                headers=headers,
            )
            assert (
                await client.post("/api/v1/auth/password-reset/request", json={"email": "logs@example.com"})
            ).status_code == 200
            [mail] = await mailbox.wait_for("logs@example.com")
            raw = mail.text.split("#token=")[1].split()[0]
            secrets.append(raw)
            new_password = "a-brand-new-passphrase-42"
            secrets.append(new_password)
            confirmed = await client.post(
                "/auth/password-reset/confirm", json={"token": raw, "new_password": new_password}
            )
            assert confirmed.status_code == 200, confirmed.text
            # The reset ended the app token's session at once.
            assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("server_*.log"))
    assert "/api/v1/sync" in logs  # the server logged its requests
    for secret in secrets:
        assert secret not in logs


def mailbox_port(box: Mailbox) -> int:
    return box.port  # type: ignore[attr-defined]
