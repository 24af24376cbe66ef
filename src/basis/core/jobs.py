"""Background jobs on taskiq: in-process by default, a Redis stream and ``basis worker`` in production.

Define a job once, anywhere in an app's ``jobs_module``::

    @job("warehouse.low_stock_mail", retries=3)
    async def low_stock_mail(ctx: JobContext, *, item_id: int) -> None: ...

and enqueue it with ``await infra.jobs.enqueue("warehouse.low_stock_mail", key=f"low:{item_id}",
item_id=item_id)``. Arguments travel as JSON. A job that raises is retried with exponential
backoff, then recorded as failed. A ``key`` makes the job idempotent through the ``job_runs``
table: a key that is done never runs again and two deliveries of one key never run at once.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.receiver import Receiver
from taskiq_redis import RedisStreamBroker

from basis.core import outbox
from basis.core.logging import get_logger
from basis.core.models import JobRun
from basis.core.time import utcnow

if TYPE_CHECKING:
    from basis.core.apps import AppSpec
    from basis.core.db import Database
    from basis.core.mail import Mailer
    from basis.core.realtime import Hub
    from basis.core.storage import Storage
    from basis.settings import Settings

log = get_logger("basis.jobs")

JobFn = Callable[..., Awaitable[None]]
F = TypeVar("F", bound=JobFn)
Outcome = Literal["done", "failed", "skipped"]

QUEUE_NAME = "basis:jobs"
CONSUMER_GROUP = "basis-workers"
MAX_BACKOFF_SECONDS = 300.0
MAX_KEY_LENGTH = 200
SWEEP_FAILURE_REMINDER = 60.0
"""Seconds between the warnings of an outbox sweep that keeps failing (a database outage)."""
TASK_NAME = "basis.run_job"
# The identity part is loaded by name: core never imports identity (see core/migrations.py).
CORE_SPECS = ("basis.identity.app:spec",)


@dataclass(frozen=True, slots=True)
class JobDefinition:
    name: str
    fn: JobFn
    retries: int


_registry: dict[str, JobDefinition] = {}


def job(name: str, retries: int = 3) -> Callable[[F], F]:
    """Register ``fn(ctx: JobContext, **kwargs)`` under ``name``; ``retries`` runs after the first failure."""
    if not name or len(name) > 200:
        raise ValueError("a job name is 1 to 200 characters")
    if retries < 0:
        raise ValueError("retries cannot be negative")

    def register(fn: F) -> F:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"job {name!r} must be an async function")
        existing = _registry.get(name)
        if existing is not None and _origin(existing.fn) != _origin(fn):
            raise ValueError(f"job {name!r} is already registered by {_origin(existing.fn)}")
        _registry[name] = JobDefinition(name=name, fn=fn, retries=retries)
        return fn

    return register


def _origin(fn: JobFn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def registered_jobs() -> dict[str, JobDefinition]:
    return dict(_registry)


@dataclass(frozen=True, slots=True)
class JobContext:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    mailer: Mailer
    jobs: JobQueue
    """For follow-up jobs."""
    hub: Hub | None
    storage: Storage | None
    name: str
    key: str | None
    attempt: int
    """1 for the first run of this delivery, 2 for its first retry, ..."""


class UnknownJob(LookupError):
    pass


class JobQueue:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        mailer: Mailer,
        redis_url: str | None,
        worker: bool,
        hub: Hub | None = None,
        storage: Storage | None = None,
        modules: Sequence[str] = (),
        retry_delay: float = 1.0,
        stale_after: float = 900.0,
        concurrency: int = 20,
        queue_name: str = QUEUE_NAME,
        shutdown_timeout: float = 10.0,
        outbox_interval: float = 5.0,
        outbox_grace: float = 10.0,
    ) -> None:
        self.settings = settings
        self.db = db
        self.mailer = mailer
        self.hub = hub
        self.storage = storage
        self.modules = tuple(modules)
        self.retry_delay = retry_delay
        self.stale_after = timedelta(seconds=stale_after)
        self.concurrency = concurrency
        self.shutdown_timeout = shutdown_timeout
        self.outbox_interval = outbox_interval
        self.outbox_grace = outbox_grace
        self._sweeper: asyncio.Task[None] | None = None
        self.in_process = not redis_url
        self.worker = worker and not self.in_process
        self.queue_name = queue_name
        self._broker: AsyncBroker
        if redis_url:
            self._broker = RedisStreamBroker(
                redis_url,
                queue_name=queue_name,
                consumer_group_name=CONSUMER_GROUP,
                # "0": a group created after jobs were queued still gets them.
                consumer_id="0",
                maxlen=100_000,
                xread_block=1000,
                idle_timeout=int(stale_after * 1000),
                unacknowledged_lock_timeout=30,
            )
        else:
            self._broker = InMemoryBroker(max_async_tasks=concurrency)

        # taskiq renames the function it registers, which a bound method does not allow.
        async def run_job(name: str, key: str | None, kwargs: dict[str, Any]) -> None:
            await self._execute(name, key, kwargs)

        self._task = self._broker.register_task(run_job, task_name=TASK_NAME)
        self._running: set[asyncio.Task[Any]] = set()
        self._queued = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stop = asyncio.Event()
        self._consumer: asyncio.Task[None] | None = None
        self._started = False

    # --- lifecycle

    async def start(self) -> None:
        for module in self.modules:
            importlib.import_module(module)
        self._broker.is_worker_process = self.worker or self.in_process
        await self._broker.startup()
        self._started = True
        self._stop.clear()
        if self.worker:
            self._consumer = asyncio.create_task(self._consume(), name="basis-jobs-consumer")
        if self.outbox_interval > 0:
            self._sweeper = asyncio.create_task(self._sweep_outbox(), name="basis-jobs-outbox")

    async def close(self) -> None:
        await outbox.settle()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._consumer is not None:
            self._stop.set()
            try:
                async with asyncio.timeout(self.shutdown_timeout + 5):
                    await asyncio.shield(self._consumer)
            except TimeoutError:
                self._consumer.cancel()
                with suppress(asyncio.CancelledError):
                    await self._consumer
            self._consumer = None
        if self.in_process:
            try:
                await self.drain(timeout=self.shutdown_timeout)
            except TimeoutError:
                log.warning("jobs still running at shutdown were cancelled", count=len(self._running))
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._started:
            await self._broker.shutdown()
            self._started = False

    async def _consume(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            receiver = Receiver(
                broker=self._broker,
                executor=None,
                run_startup=False,
                max_async_tasks=self.concurrency,
                wait_tasks_timeout=self.shutdown_timeout,
            )
            try:
                await receiver.listen(self._stop)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                cause: BaseException = exc
                while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
                    cause = cause.exceptions[0]
                error = f"{type(cause).__name__}: {cause}"
                log.warning("job queue unreachable, retrying", error=error, retry_in=backoff)
                with suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await self._stop.wait()
                backoff = min(backoff * 2, 10.0)
                # A Redis restarted without persistence has lost the consumer group (NOGROUP).
                declare = getattr(self._broker, "_declare_consumer_group", None)
                if declare is not None:
                    with suppress(Exception):
                        await declare()

    async def _sweep_outbox(self) -> None:
        failing_since: float | None = None  # an outage: its start, and when it was last told
        told = 0.0
        while True:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.outbox_interval):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            try:
                await outbox.sweep(self, grace=self.outbox_grace)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again next round
                now = time.monotonic()
                if failing_since is None:
                    failing_since, told = now, now - SWEEP_FAILURE_REMINDER
                if now - told >= SWEEP_FAILURE_REMINDER:
                    # Once when it starts, then a reminder a minute: not a line every round.
                    log.warning(
                        "outbox sweep failed", error=str(exc), failing_for_s=round(now - failing_since)
                    )
                    told = now
                continue
            if failing_since is not None:
                log.info("outbox sweep works again", failed_for_s=round(time.monotonic() - failing_since))
                failing_since = None

    # --- enqueueing

    def stage(
        self,
        session: AsyncSession,
        name: str,
        *,
        key: str,
        not_before: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue ``name`` when ``session``'s transaction commits, and never if it rolls back
        (``basis.core.outbox``). The key is required: it makes a second delivery a no-op.
        With ``not_before`` the job waits in the outbox until then (a delay that survives a
        restart) and the sweep queues it."""
        self._check(name, key, kwargs)
        outbox.stage(self, session, name, key, kwargs, not_before)

    async def enqueue(self, name: str, *, key: str | None = None, **kwargs: Any) -> None:
        """Queue ``name``; returns once the job is queued (it runs soon, here or in a worker)."""
        self._check(name, key, kwargs)
        if self.in_process:
            self._queued += 1
            self._idle.clear()
        try:
            await self._task.kiq(name=name, key=key, kwargs=kwargs)
        except BaseException:
            if self.in_process:
                self._done_one()
            raise

    async def run_inline(self, name: str, *, key: str | None = None, **kwargs: Any) -> Outcome:
        """Run a job now in this task, with the same idempotency and retries (tests, CLI)."""
        self._check(name, key, kwargs)
        return await self._run(name, key, json.loads(json.dumps(kwargs)))

    async def drain(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 (callers wait a bounded time)
        """Wait until the jobs queued so far (and the jobs they queue) have finished."""
        async with asyncio.timeout(timeout):
            if self.in_process:
                await self._idle.wait()
                return
            # The queue is in Redis, shared by processes: no event to wait on here.
            while not (await self._queue_empty() and not self._running):  # noqa: ASYNC110
                await asyncio.sleep(0.05)

    async def _queue_empty(self) -> bool:
        assert isinstance(self._broker, RedisStreamBroker)
        from redis.asyncio import Redis

        async with Redis(connection_pool=self._broker.connection_pool) as redis:
            groups = await redis.xinfo_groups(self.queue_name)
        for group in groups:
            if _text(group["name"]) == CONSUMER_GROUP:
                return group["pending"] == 0 and group.get("lag") == 0
        return False

    @staticmethod
    def _check(name: str, key: str | None, kwargs: dict[str, Any]) -> None:
        if name not in _registry:
            raise UnknownJob(f"no job named {name!r} is registered (is its jobs_module imported?)")
        if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ValueError(f"a job key is 1 to {MAX_KEY_LENGTH} characters")
        try:
            json.dumps(kwargs)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"arguments of job {name!r} must be JSON values: {exc}") from None

    def _done_one(self) -> None:
        self._queued -= 1
        if self._queued <= 0:
            self._queued = 0
            self._idle.set()

    # --- execution

    async def _execute(self, name: str, key: str | None, kwargs: dict[str, Any]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await self._run(name, key, kwargs)
        finally:
            if task is not None:
                self._running.discard(task)
            if self.in_process:
                self._done_one()

    async def _run(self, name: str, key: str | None, kwargs: dict[str, Any]) -> Outcome:
        definition = _registry.get(name)
        if definition is None:
            log.error("job not registered in this process, dropped", job=name, key=key)
            return "failed"
        attempt = 0
        if key is not None:
            claimed = await self._with_retries(definition, key, lambda: self._claim(name, key))
            if claimed is None:
                return "failed"
            if not claimed:
                log.info("job skipped: key already done or running", job=name, key=key)
                return "skipped"
        while True:
            attempt += 1
            context = JobContext(
                settings=self.settings,
                sessionmaker=self.db.sessionmaker,
                mailer=self.mailer,
                jobs=self,
                hub=self.hub,
                storage=self.storage,
                name=name,
                key=key,
                attempt=attempt,
            )
            try:
                if key is not None:
                    await self._record(key, attempts=JobRun.attempts + 1)
                await definition.fn(context, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:2000]
                if attempt > definition.retries:
                    log.error("job failed", job=name, key=key, attempts=attempt, error=error, exc_info=exc)
                    if key is not None:
                        await self._finish(key, "failed", error)
                    return "failed"
                delay = self._backoff(attempt)
                log.warning(
                    "job attempt failed, retrying",
                    job=name,
                    key=key,
                    attempt=attempt,
                    retry_in=round(delay, 3),
                    error=error,
                )
                await asyncio.sleep(delay)
                continue
            if key is not None:
                await self._finish(key, "done", None)
            log.info("job done", job=name, key=key, attempts=attempt)
            return "done"

    def _backoff(self, attempt: int) -> float:
        return min(self.retry_delay * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)

    async def _with_retries(
        self, definition: JobDefinition, key: str, step: Callable[[], Awaitable[bool]]
    ) -> bool | None:
        # The database may be briefly away; the bookkeeping gets the job's own retry budget.
        for attempt in range(1, definition.retries + 2):
            try:
                return await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt > definition.retries:
                    log.error(
                        "job bookkeeping failed, job not run",
                        job=definition.name,
                        key=key,
                        error=str(exc),
                        exc_info=exc,
                    )
                    return None
                await asyncio.sleep(self._backoff(attempt))
        return None

    async def _claim(self, name: str, key: str) -> bool:
        """Insert-or-skip on the unique key: True when this delivery owns the run."""
        async with self.db.sessionmaker() as session:
            session.add(JobRun(key=key, task=name, status="running", attempts=0, created_at=utcnow()))
            try:
                await session.commit()
                return True
            except IntegrityError:
                await session.rollback()
            row = (
                await session.execute(
                    select(JobRun.id, JobRun.status, JobRun.attempts, JobRun.created_at).where(
                        JobRun.key == key
                    )
                )
            ).one_or_none()
            if row is None or row.status == "done":
                return False
            if row.status == "running" and row.created_at > utcnow() - self.stale_after:
                return False
            # A failed run, or a running one whose worker died: take it over, once.
            result = await session.execute(
                update(JobRun)
                .where(JobRun.id == row.id, JobRun.status == row.status, JobRun.attempts == row.attempts)
                .values(status="running", created_at=utcnow(), finished_at=None, last_error=None)
            )
            await session.commit()
            return result.rowcount == 1

    async def _record(self, key: str, **values: Any) -> None:
        async with self.db.sessionmaker() as session:
            await session.execute(update(JobRun).where(JobRun.key == key).values(**values))
            await session.commit()

    async def _finish(self, key: str, status: str, error: str | None) -> None:
        for attempt in range(5):
            try:
                await self._record(key, status=status, last_error=error, finished_at=utcnow())
                return
            except Exception as exc:
                if attempt == 4:
                    log.error("could not record job result", key=key, status=status, error=str(exc))
                    return
                await asyncio.sleep(self._backoff(attempt + 1))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def import_job_modules(specs: Sequence[AppSpec]) -> list[str]:
    modules = [spec.jobs_module for spec in specs if spec.jobs_module]
    for module in modules:
        importlib.import_module(module)
    return modules


async def run_worker(settings: Settings, specs: Sequence[AppSpec] | None = None) -> None:
    """``basis worker``: consume the Redis job queue until SIGTERM or SIGINT."""
    from basis.core.apps import enabled_specs, load_spec
    from basis.core.db import Database
    from basis.core.infra import build_infra

    if not settings.redis_url:
        raise ValueError("`basis worker` needs BASIS_REDIS_URL; without Redis the server runs jobs itself")
    if specs is None:
        specs = [*(load_spec(ref) for ref in CORE_SPECS), *enabled_specs(settings.apps)]
    db = Database(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        echo=settings.db_echo,
    )
    infra = build_infra(settings, db, worker=True, specs=specs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await infra.start()
        async with AsyncExitStack() as contexts:
            for spec in specs:
                if spec.in_worker is not None:
                    await contexts.enter_async_context(spec.in_worker(settings, db, infra))
            log.info("worker started", jobs=sorted(_registry), concurrency=infra.jobs.concurrency)
            await stop.wait()
            log.info("worker stopping")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await infra.close()
        await db.dispose()
