"""Offline mail through the core outbox with a due time: staged in the send's transaction, sent
by a real ``basis worker`` once the delay has passed, even when the server that stored the
message was killed meanwhile; a member who read the message before then gets no mail."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core.models import JobOutbox, JobRun
from basis.settings import Settings
from tests.apps.messenger.test_mail import mails_for, outbox
from tests.support import backends
from tests.support.live import ROOT, free_port, settings_env

pytestmark = pytest.mark.slow
DELAY = 5


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(timeout=1) as http, asyncio.timeout(90):
        while True:
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)


async def _job_done(session: AsyncSession, key: str) -> None:
    async with asyncio.timeout(60):
        while True:
            status = await session.scalar(select(JobRun.status).where(JobRun.key == key))
            await session.rollback()
            if status == "done":
                return
            await asyncio.sleep(0.2)


async def test_a_staged_mail_outlives_its_server_and_is_sent_after_the_delay_by_the_worker(
    backend: str,
    settings_values: dict[str, Any],
    settings: Settings,
    redis_url: str,
    person_factory: Callable[..., Any],
    session: AsyncSession,
) -> None:
    chosen = backends.chosen_backends()
    if backend != ("postgresql" if "postgresql" in chosen else chosen[0]):
        pytest.skip("server, worker and Redis: one database backend is enough (postgresql when chosen)")
    ann, bob, carl = await person_factory("ann"), await person_factory("bob"), await person_factory("carl")
    values = {
        **settings_values,
        "redis_url": redis_url,
        "apps": ["messenger"],
        "messenger_offline_mail_delay_seconds": DELAY,
    }
    env = {**settings_env(values), "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.support.server:create", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "basis.cli", "worker", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await _ready(base)
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            made = await http.post(
                "/api/chats",
                json={"type": "group", "title": "Night", "members": [bob.id, carl.id]},
                headers=ann.headers,
            )
            assert made.status_code == 201, made.text
            chat_id = made.json()["id"]
            sent = await http.post(
                f"/api/chats/{chat_id}/messages", json={"text": "the plan"}, headers=ann.headers
            )
            assert sent.status_code == 201, sent.text
            message_id = sent.json()["id"]
            read = await http.post(
                f"/api/chats/{chat_id}/read", json={"message_id": message_id}, headers=carl.headers
            )
            assert read.status_code == 200, read.text
        # The job waits in the outbox, in the database, not in the server that staged it.
        key = f"messenger-mail:{chat_id}:{message_id}"
        staged = await session.scalar(select(JobOutbox.not_before).where(JobOutbox.key == key))
        await session.rollback()
        assert staged is not None
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        assert outbox(settings) == []  # not before the delay

        (mail,) = await mails_for(settings, "bob", 1, timeout=60)
        assert len(mail["to"]) == 1 and "Night" in mail["subject"]
        await _job_done(session, key)
        # Carl read the message before the delay had passed: no mail for him.
        assert not [m for m in outbox(settings) if m["to"][0].startswith(("carl", "ann"))]
        assert await session.scalar(select(JobOutbox.id).where(JobOutbox.key == key)) is None
        await session.rollback()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.communicate(), 30)
