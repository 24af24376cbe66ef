"""Background jobs: retries, idempotency keys in job_runs, and the Redis queue with a worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from basis.core import outbox
from basis.core.db import Database
from basis.core.jobs import QUEUE_NAME, JobContext, JobQueue, UnknownJob, job, registered_jobs
from basis.core.mail import OutboxMailer
from basis.core.models import JobOutbox, JobRun
from basis.core.time import utcnow
from basis.identity.authcache import VERSION_KEY
from basis.settings import Settings
from tests.example_app.models import ExampleNote
from tests.support import backends
from tests.support.live import ROOT, settings_env
from tests.support.plugin import with_path, write_distribution
from tests.support.proxy import cuttable

CALLS: Counter[str] = Counter()
"""Runs per test token: each test passes its own token, so tests never see each other's runs."""


@job("tests.flaky", retries=3)
async def flaky(ctx: JobContext, *, token: str, failures: int) -> None:
    CALLS[token] += 1
    if CALLS[token] <= failures:
        raise RuntimeError(f"boom {CALLS[token]}")


@job("tests.slow", retries=0)
async def slow(ctx: JobContext, *, token: str, seconds: float) -> None:
    CALLS[token] += 1
    await asyncio.sleep(seconds)


@job("tests.mail", retries=1)
async def mail(ctx: JobContext, *, to: str) -> None:
    assert ctx.settings.timezone and ctx.name == "tests.mail" and ctx.attempt == 1
    async with ctx.sessionmaker() as session:
        runs = (await session.execute(select(JobRun.key))).scalars().all()
    await ctx.mailer.send([to], "From a job", f"runs: {len(runs)}")


@job("tests.chain", retries=0)
async def chain(ctx: JobContext, *, token: str, left: int) -> None:
    CALLS[token] += 1
    if left:
        await ctx.jobs.enqueue("tests.chain", token=token, left=left - 1)


MakeQueue = Callable[..., JobQueue]


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def make_queue(
    request: pytest.FixtureRequest, settings: Settings, session: AsyncSession, tmp_path: Path
) -> AsyncIterator[MakeQueue]:
    """Queues on the migrated test database; ``session`` empties job_runs afterwards."""
    if "redis_url" in request.fixturenames:
        request.getfixturevalue("redis_url")  # set up first, so Redis is flushed after the queues close
    db = Database(settings.resolved_database_url, pool_size=5)
    queues: list[JobQueue] = []
    queue_name = f"tests:jobs:{uuid.uuid4().hex}"

    def make(redis_url: str | None = None, worker: bool = False, **options: Any) -> JobQueue:
        options = {"retry_delay": 0.01, "queue_name": queue_name, **options}
        queue = JobQueue(
            settings=settings, db=db, mailer=OutboxMailer(tmp_path / "mail.jsonl"), redis_url=redis_url,
            worker=worker, **options,
        )
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        await queue.close()
    await db.dispose()


async def runs(session: AsyncSession) -> dict[str, tuple[str, int, str | None]]:
    query = select(JobRun.key, JobRun.status, JobRun.attempts, JobRun.last_error)
    rows = (await session.execute(query)).all()
    await session.rollback()  # end the read: on SQLite an open transaction would block the writers
    return {row.key: (row.status, row.attempts, row.last_error) for row in rows}


@pytest.fixture
async def queue(make_queue: MakeQueue) -> JobQueue:
    queue = make_queue()
    await queue.start()
    return queue


async def test_a_failing_job_is_retried_until_it_succeeds(
    queue: JobQueue, session: AsyncSession, token: str
) -> None:
    await queue.enqueue("tests.flaky", key=f"flaky:{token}", token=token, failures=2)
    await queue.drain()
    assert CALLS[token] == 3
    status, attempts, error = (await runs(session))[f"flaky:{token}"]
    assert (status, attempts, error) == ("done", 3, None)


async def test_a_job_failing_every_retry_is_recorded_as_failed(
    queue: JobQueue, session: AsyncSession, token: str
) -> None:
    await queue.enqueue("tests.flaky", key=f"fail:{token}", token=token, failures=100)
    await queue.drain()
    assert CALLS[token] == 4  # the first run and 3 retries
    status, attempts, error = (await runs(session))[f"fail:{token}"]
    assert (status, attempts) == ("failed", 4)
    assert error == "RuntimeError: boom 4"


async def test_a_failed_key_runs_again_when_enqueued_again(
    queue: JobQueue, session: AsyncSession, token: str
) -> None:
    assert await queue.run_inline("tests.flaky", key=f"again:{token}", token=token, failures=4) == "failed"
    assert await queue.run_inline("tests.flaky", key=f"again:{token}", token=token, failures=4) == "done"
    assert CALLS[token] == 5
    assert (await runs(session))[f"again:{token}"][:2] == ("done", 5)


async def test_a_key_runs_once_even_when_enqueued_twice_at_once(
    queue: JobQueue, session: AsyncSession, token: str
) -> None:
    key = f"once:{token}"
    await asyncio.gather(*(queue.enqueue("tests.slow", key=key, token=token, seconds=0.2) for _ in range(2)))
    await queue.drain()
    await queue.enqueue("tests.slow", key=key, token=token, seconds=0)
    await queue.drain()
    assert CALLS[token] == 1
    assert await queue.run_inline("tests.slow", key=key, token=token, seconds=0) == "skipped"
    assert (await runs(session))[key][:2] == ("done", 1)


async def test_jobs_without_a_key_always_run_and_leave_no_row(
    queue: JobQueue, session: AsyncSession, token: str
) -> None:
    for _ in range(3):
        await queue.enqueue("tests.slow", token=token, seconds=0)
    await queue.drain()
    assert CALLS[token] == 3
    assert await runs(session) == {}


async def test_drain_waits_for_jobs_that_jobs_enqueue(queue: JobQueue, token: str) -> None:
    await queue.enqueue("tests.chain", token=token, left=3)
    await queue.drain()
    assert CALLS[token] == 4


async def test_the_context_gives_settings_database_and_mailer(queue: JobQueue) -> None:
    await queue.enqueue("tests.mail", key="mail:1", to="ala@example.com")
    await queue.drain()
    assert isinstance(queue.mailer, OutboxMailer)
    [sent] = queue.mailer.read()
    assert (sent["to"], sent["subject"], sent["text"]) == (["ala@example.com"], "From a job", "runs: 1")


async def test_unknown_jobs_and_non_json_arguments_are_refused_at_enqueue(queue: JobQueue) -> None:
    with pytest.raises(UnknownJob):
        await queue.enqueue("tests.nope")
    with pytest.raises(TypeError, match="JSON"):
        await queue.enqueue("tests.slow", token=object(), seconds=0)
    with pytest.raises(ValueError):
        await queue.enqueue("tests.slow", key="k" * 201, token="t", seconds=0)


def test_job_names_are_unique_and_jobs_are_async() -> None:
    assert registered_jobs()["tests.flaky"].retries == 3
    with pytest.raises(ValueError, match="already registered"):
        job("tests.flaky")(slow)
    with pytest.raises(TypeError):
        job("tests.sync")(lambda ctx: None)  # type: ignore[arg-type,return-value]


async def test_closing_waits_for_running_jobs(make_queue: MakeQueue, token: str) -> None:
    queue = make_queue()
    await queue.start()
    await queue.enqueue("tests.slow", token=token, seconds=0.3)
    await asyncio.sleep(0.05)
    await queue.close()
    assert CALLS[token] == 1


async def test_redis_queue_round_trip_through_a_worker(
    make_queue: MakeQueue, session: AsyncSession, redis_url: str, token: str
) -> None:
    server = make_queue(redis_url)
    await server.start()
    # Queued before any worker runs: still delivered once one starts.
    await server.enqueue("tests.flaky", key=f"redis:{token}", token=token, failures=1)
    worker = make_queue(redis_url, worker=True)
    await worker.start()
    await worker.drain(timeout=15)
    assert CALLS[token] == 2
    assert (await runs(session))[f"redis:{token}"][:2] == ("done", 2)


async def test_two_workers_run_a_key_once(
    make_queue: MakeQueue, session: AsyncSession, redis_url: str, token: str
) -> None:
    server = make_queue(redis_url)
    workers = [make_queue(redis_url, worker=True), make_queue(redis_url, worker=True)]
    for queue in (server, *workers):
        await queue.start()
    key = f"two:{token}"
    await asyncio.gather(*(server.enqueue("tests.slow", key=key, token=token, seconds=0.2) for _ in range(4)))
    await asyncio.gather(*(server.enqueue("tests.slow", token=f"{token}-free", seconds=0) for _ in range(10)))
    for queue in workers:
        await queue.drain(timeout=15)
    assert CALLS[token] == 1
    assert CALLS[f"{token}-free"] == 10
    assert (await runs(session))[key][:2] == ("done", 1)


async def test_a_run_left_behind_by_a_dead_worker_is_taken_over(
    make_queue: MakeQueue, session: AsyncSession, token: str
) -> None:
    key = f"stale:{token}"
    session.add(JobRun(key=key, task="tests.slow", status="running", attempts=1,
                       created_at=utcnow() - dt.timedelta(minutes=2)))
    await session.commit()
    patient = make_queue(stale_after=300)
    assert await patient.run_inline("tests.slow", key=key, token=token, seconds=0) == "skipped"
    impatient = make_queue(stale_after=60)
    assert await impatient.run_inline("tests.slow", key=key, token=token, seconds=0) == "done"
    assert CALLS[token] == 1
    assert (await runs(session))[key][:2] == ("done", 2)


@pytest.mark.slow
async def test_basis_worker_runs_queued_jobs_and_stops_on_sigterm(
    backend: str,
    settings_values: dict[str, Any],
    make_queue: MakeQueue,
    session: AsyncSession,
    redis_url: str,
    tmp_path: Path,
    make_user: Any,
) -> None:
    if backend != backends.chosen_backends()[0]:
        pytest.skip("the worker command is the same on every database: run on one")
    server = make_queue(redis_url, queue_name=QUEUE_NAME, modules=["tests.example_app.jobs"])
    await server.start()
    await server.enqueue("example.add_note", key="note:1", text="from the worker", notify="ala@example.com")
    # An account changed by a job reaches the servers' auth caches (the shared version moves).
    suspended = await make_user()
    redis = Redis.from_url(redis_url)
    version_before = await redis.get(VERSION_KEY)
    await redis.aclose()
    await server.enqueue("example.suspend_user", key="suspend:1", user_id=suspended.id)
    env = settings_env({**settings_values, "redis_url": redis_url, "apps": ["example"]})
    env = with_path(env, write_distribution(tmp_path / "plugins"))  # the example app, installed
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "basis.cli", "worker", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(60):
            while True:
                states = await runs(session)
                if all(states.get(key, ("",))[0] == "done" for key in ("note:1", "suspend:1")):
                    break
                await asyncio.sleep(0.1)
        redis = Redis.from_url(redis_url)
        version_after = await redis.get(VERSION_KEY)
        await redis.aclose()
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
        print(output.decode())
    assert worker.returncode == 0
    assert version_after is not None and version_after != version_before
    notes = (await session.execute(select(ExampleNote.text))).scalars().all()
    assert notes == ["from the worker"]
    mails = OutboxMailer(Path(settings_values["data_dir"]) / "outbox" / "mail.jsonl").read()
    assert [(m["to"], m["subject"]) for m in mails] == [(["ala@example.com"], "Note added")]


async def outbox_rows(session: AsyncSession) -> list[str]:
    keys = (await session.execute(select(JobOutbox.key).order_by(JobOutbox.id))).scalars().all()
    await session.rollback()
    return list(keys)


async def test_a_staged_job_is_queued_when_its_transaction_commits_and_never_after_a_rollback(
    queue: JobQueue, session: AsyncSession, token: str
) -> None:
    queue.stage(session, "tests.flaky", key=f"commit:{token}", token=token, failures=0)
    await session.flush()
    await queue.drain()
    assert CALLS[token] == 0  # not before the commit
    await session.commit()
    await queue.drain()
    assert CALLS[token] == 1
    await outbox.settle()  # the queued row is deleted once the commit has let go of its connection
    assert await outbox_rows(session) == []

    queue.stage(session, "tests.flaky", key=f"rollback:{token}", token=f"{token}-rolled-back", failures=0)
    await session.flush()
    await session.rollback()
    await queue.drain()
    assert CALLS[f"{token}-rolled-back"] == 0
    assert await outbox_rows(session) == []
    with pytest.raises(UnknownJob):
        queue.stage(session, "tests.nothing", key="x")


async def test_jobs_left_in_the_outbox_by_a_dead_process_are_run_once_by_the_sweep(
    make_queue: MakeQueue, session: AsyncSession, token: str
) -> None:
    # What a process leaves when it dies between its commit and queueing: the row, twice over
    # (it staged the same key in two transactions).
    long_ago = utcnow() - dt.timedelta(minutes=5)
    for _ in range(2):
        session.add(JobOutbox(task="tests.flaky", key=f"left:{token}", kwargs=json.dumps(
            {"token": token, "failures": 0}), created_at=long_ago))
    await session.commit()
    queue = make_queue(outbox_interval=0.05, outbox_grace=1)
    await queue.start()
    async with asyncio.timeout(20):
        while await outbox_rows(session):
            await asyncio.sleep(0.05)
    await queue.drain()
    assert CALLS[token] == 1
    assert (await runs(session))[f"left:{token}"][0] == "done"


async def test_a_job_staged_while_redis_is_away_is_queued_once_it_is_back(
    backend: str, make_queue: MakeQueue, session: AsyncSession, redis_url: str, token: str
) -> None:
    if backend != backends.chosen_backends()[0]:
        pytest.skip("the queue's Redis behaves the same whatever the database: checked on one")
    url = make_url(redis_url)
    async with cuttable(url.host or "127.0.0.1", url.port or 6379) as proxy:
        proxied = f"redis://127.0.0.1:{proxy.port}/{url.database}"
        server = make_queue(proxied, outbox_interval=0.1, outbox_grace=0)
        await server.start()
        proxy.cut()
        server.stage(session, "tests.flaky", key=f"away:{token}", token=token, failures=0)
        await session.commit()  # the change is stored; its job waits in the outbox
        assert await outbox_rows(session) == [f"away:{token}"]
        proxy.restore()
        worker = make_queue(redis_url, worker=True)
        await worker.start()
        async with asyncio.timeout(30):
            while (await runs(session)).get(f"away:{token}", ("",))[0] != "done":
                await asyncio.sleep(0.1)
    assert CALLS[token] == 1
    assert await outbox_rows(session) == []


async def test_a_job_staged_with_a_due_time_waits_in_the_outbox_until_then(
    make_queue: MakeQueue, session: AsyncSession, token: str
) -> None:
    queue = make_queue(outbox_interval=0.05, outbox_grace=30)
    await queue.start()
    queue.stage(
        session, "tests.flaky", key=f"due:{token}", not_before=utcnow() + dt.timedelta(seconds=1.5),
        token=token, failures=0,
    )
    queue.stage(session, "tests.flaky", key=f"now:{token}", token=f"{token}-now", failures=0)
    await session.commit()
    await asyncio.sleep(0.5)  # ten sweeps: none queues a job that is not due
    await queue.drain()
    assert (CALLS[token], CALLS[f"{token}-now"]) == (0, 1)
    assert await outbox_rows(session) == [f"due:{token}"]
    async with asyncio.timeout(20):
        while await outbox_rows(session):
            await asyncio.sleep(0.05)
    await queue.drain()
    assert CALLS[token] == 1
    assert (await runs(session))[f"due:{token}"][0] == "done"


async def test_a_sweep_failing_through_a_database_outage_warns_once_then_a_minute_apart(
    backend: str, settings: Settings, session: AsyncSession, tmp_path: Path, token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if backend == "sqlite":
        pytest.skip("the outage is a server's connection cut by a proxy")
    if backend != next(b for b in backends.chosen_backends() if b != "sqlite"):
        pytest.skip("the queue's sweep behaves the same on either server: checked on one")
    monkeypatch.setattr("basis.core.jobs.SWEEP_FAILURE_REMINDER", 1.0)  # a minute in production
    url = make_url(settings.resolved_database_url)
    async with cuttable(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        db = Database(proxied, pool_size=2)
        queue = JobQueue(
            settings=settings, db=db, mailer=OutboxMailer(tmp_path / "mail.jsonl"), redis_url=None,
            worker=False, retry_delay=0.01, queue_name=f"tests:jobs:{token}", outbox_interval=0.05,
            outbox_grace=0,
        )
        try:
            with structlog.testing.capture_logs() as logs:
                await queue.start()
                proxy.cut()
                await asyncio.sleep(2.5)  # about fifty sweeps fail
                proxy.restore()
                session.add(JobOutbox(task="tests.flaky", key=f"after:{token}", kwargs=json.dumps(
                    {"token": token, "failures": 0}), created_at=utcnow() - dt.timedelta(minutes=1)))
                await session.commit()
                async with asyncio.timeout(20):  # the sweep works again: the row left behind is queued
                    while await outbox_rows(session):
                        await asyncio.sleep(0.05)
        finally:
            await queue.close()
            await db.dispose()
    failed = [entry for entry in logs if entry["event"] == "outbox sweep failed"]
    assert 2 <= len(failed) <= 4, failed  # at the start, then about once a second: not fifty lines
    assert failed[0]["failing_for_s"] == 0 and failed[-1]["failing_for_s"] >= 1
    again = [entry for entry in logs if entry["event"] == "outbox sweep works again"]
    assert len(again) == 1 and again[0]["failed_for_s"] >= 2
    await queue.drain()
    assert CALLS[token] == 1
