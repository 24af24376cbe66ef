"""The scan writer: the queue of a process's scans, decided batch by batch (``ingest.process``)
by a few workers, with the retries, splits and 503s of a batch the database did not take."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence

from prometheus_client import Histogram
from sqlalchemy.exc import DBAPIError, IntegrityError

from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.ingest import SCANS, Answer, Scan, process
from basis.core import outage
from basis.core.db import Database, is_lock_timeout, is_transient, retry_transient
from basis.core.errors import ServiceUnavailable
from basis.core.logging import get_logger
from basis.settings import Settings

log = get_logger("basis.timetracker.ingest")

MAX_BATCH = 256
"""Scans decided in one transaction at most (the scans of one request stay together)."""
WORKERS = 2
"""Batches in their transactions at once, each on its own connection: while one waits for the
database, the next is read and decided (measured: a third adds nothing on two cores)."""
BATCH_SIZE = Histogram(
    "basis_timetracker_scan_batch_size",
    "Scans decided together in one transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
BATCH_SECONDS = Histogram(
    "basis_timetracker_scan_batch_seconds",
    "Time from taking a batch off the queue to its answers",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

_Pending = list[tuple[Scan, "asyncio.Future[Answer]"]]


class ScanWriter:
    """The queue of a process's scans, worked off batch by batch.

    ``workers`` batches may be in their transactions at once, each on its own connection;
    they take turns on shared employees through the employees' row locks, as two processes
    do. The scans of one submission stay in one batch, so they are decided in their order.
    """

    def __init__(
        self, db: Database, settings: Settings, *, max_batch: int = MAX_BATCH, workers: int = WORKERS
    ) -> None:
        self._db = db
        self._settings = settings
        self._max_batch = max_batch
        self._workers = workers
        self._queue: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def submit(self, scans: Sequence[Scan]) -> list[Answer]:
        """Decide ``scans`` in this order: an Outcome or the refusal for each (ServiceUnavailable
        for a scan that could not be stored)."""
        if self._closing:
            raise ServiceUnavailable("The server is shutting down; send the scan again", code="shutting_down")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Answer]] = [loop.create_future() for _ in scans]
        self._queue.append(list(zip(scans, futures, strict=True)))
        self._idle.clear()
        if not self._tasks:
            self._tasks = [
                loop.create_task(self._run(), name=f"timetracker-scan-writer-{n}")
                for n in range(self._workers)
            ]
        self._wakeup.set()
        return list(await asyncio.gather(*futures))

    async def close(self) -> None:
        """Decide what is queued, then stop."""
        self._closing = True
        if not self._tasks:
            return
        await self._idle.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _take(self) -> _Pending:
        batch: _Pending = []
        while self._queue and (not batch or len(batch) + len(self._queue[0]) <= self._max_batch):
            batch.extend(self._queue.popleft())
        return batch

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._take()
                self._busy += 1
                started = time.perf_counter()
                answers: list[Answer] = []
                try:
                    answers = await self._answers([scan for scan, _ in batch])
                except Exception:  # a bug: the worker must live on
                    log.exception("timetracker_scan_writer_failed", scans=len(batch))
                finally:
                    self._busy -= 1
                    BATCH_SIZE.observe(len(batch))
                    BATCH_SECONDS.observe(time.perf_counter() - started)
                    # Nobody waits forever, not even when the batch was cancelled (shutdown);
                    # a done future is a request that went away: its scan is decided all the same.
                    for n, (_, future) in enumerate(batch):
                        if not future.done():
                            future.set_result(answers[n] if n < len(answers) else _unavailable())
            if self._busy == 0 and not self._queue:
                self._idle.set()

    async def _answers(self, scans: list[Scan]) -> list[Answer]:
        """The batch's answers; a scan that could not be decided gets ServiceUnavailable."""
        try:
            return await self._transaction(scans)
        except IntegrityError:
            # The same (terminal, client_event_id) stored by another process at the same
            # moment: decided again, that scan finds it and answers with it.
            if len(scans) > 1:
                return await self._one_by_one(scans)
            try:
                return await self._transaction(scans)
            except IntegrityError:
                # Still refused, and still not found: the database compares the id otherwise
                # than the batch does. Either way it is taken.
                return [exc.idempotency_conflict()]
            except Exception:
                log.exception("timetracker_scan_batch_failed", scans=1)
        except DBAPIError as error:
            if is_lock_timeout(error) and len(scans) > 1:
                # Someone holds one of the employees: the other scans need not wait for them.
                return await self._one_by_one(scans)
            _failed(error, len(scans))
        except Exception as error:
            _failed(error, len(scans))
        SCANS.labels("scan_not_stored").inc(len(scans))
        return [_unavailable() for _ in scans]

    async def _one_by_one(self, scans: list[Scan]) -> list[Answer]:
        return [answer for scan in scans for answer in await self._answers([scan])]

    async def _transaction(self, scans: list[Scan]) -> list[Answer]:
        async def attempt() -> list[Answer]:
            async with self._db.engine.connect() as conn:
                return await process(conn, scans, self._settings)

        def logged(attempt_no: int, error: DBAPIError) -> None:
            log.info("timetracker_scan_batch_retry", attempt=attempt_no, error=type(error.orig).__name__)

        def deadlocked(error: DBAPIError) -> bool:
            return is_transient(error) and not is_lock_timeout(error)

        try:
            return await retry_transient(attempt, on_retry=logged, should_retry=deadlocked)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        # The server restarted or dropped the connection: every pooled one is as dead.
        log.warning("timetracker_scan_batch_reconnect")
        await self._db.engine.dispose()
        return await retry_transient(attempt, on_retry=logged, should_retry=deadlocked)


def _failed(error: Exception, scans: int) -> None:
    if isinstance(error, outage.HANDLED):
        # The database is out of reach: one line per outage, not a traceback per batch.
        outage.OUTAGES.failed(error, "timetracker scans")
    else:
        log.error("timetracker_scan_batch_failed", scans=scans, exc_info=error)


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The scan could not be stored just now; keep it and send it again",
        code="scan_not_stored",
        headers={"Retry-After": str(outage.RETRY_AFTER_SECONDS)},
    )
