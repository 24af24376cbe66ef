"""The scan writer: the queue of a process's scans, decided batch by batch (``ingest.process``)
by a few workers, with the retries, splits and 503s of a batch the database did not take."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError, IntegrityError

from basis.apps.timetracker import exceptions as exc
from basis.apps.timetracker.ingest import SCANS, Answer, Scan, process
from basis.core import outage
from basis.core.batching import BatchQueue, batch_metrics
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
METRICS = batch_metrics("basis_timetracker_scan", "Scans")


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
        self._queue: BatchQueue[Scan, Answer] = BatchQueue(
            self._answers,
            name="timetracker-scan-writer",
            unavailable=_unavailable,
            closing=lambda: ServiceUnavailable(
                "The server is shutting down; send the scan again", code="shutting_down"
            ),
            metrics=METRICS,
            max_batch=max_batch,
            workers=workers,
        )

    async def submit(self, scans: Sequence[Scan]) -> list[Answer]:
        """Decide ``scans`` in this order: an Outcome or the refusal for each (ServiceUnavailable
        for a scan that could not be stored)."""
        return await self._queue.submit(scans)

    async def close(self) -> None:
        """Decide what is queued, then stop."""
        await self._queue.close()

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
