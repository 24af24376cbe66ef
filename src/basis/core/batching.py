"""Group commit: a process's requests of one kind queued and decided batch by batch.

Requests that arrive together share a transaction: its lock holds, round trips and commit. A
few worker tasks take batches off the queue; while one waits for the database, the next is
read and decided. TimeTracker's scans and the warehouse's movements go through one each.

The app gives ``decide(items) -> answers``, one answer per item in order. What a batch could not
answer (a bug in ``decide``, a shutdown) gets ``unavailable()``: nobody waits forever.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from prometheus_client import Histogram

from basis.core.errors import ServiceUnavailable
from basis.core.logging import get_logger

T = TypeVar("T")
R = TypeVar("R")

log = get_logger("basis.batching")

SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def batch_metrics(prefix: str, what: str) -> tuple[Histogram, Histogram]:
    """The two histograms of a batch queue: ``<prefix>_batch_size`` and ``_batch_seconds``."""
    return (
        Histogram(
            f"{prefix}_batch_size", f"{what} decided together in one transaction", buckets=SIZE_BUCKETS
        ),
        Histogram(
            f"{prefix}_batch_seconds",
            "Time from taking a batch off the queue to its answers",
            buckets=SECONDS_BUCKETS,
        ),
    )


class BatchQueue(Generic[T, R]):
    """Items submitted together stay in one batch, so they are decided in their order; a batch
    holds at most ``max_batch`` items (more only when one submission alone is larger)."""

    def __init__(
        self,
        decide: Callable[[list[T]], Awaitable[list[R]]],
        *,
        name: str,
        unavailable: Callable[[], R],
        closing: Callable[[], ServiceUnavailable],
        metrics: tuple[Histogram, Histogram],
        max_batch: int = 256,
        workers: int = 2,
    ) -> None:
        self._decide = decide
        self._name = name
        self._unavailable = unavailable
        self._closing_error = closing
        self._size, self._seconds = metrics
        self._max_batch = max_batch
        self._workers = workers
        self._queue: deque[list[tuple[T, asyncio.Future[R]]]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    async def submit(self, items: Sequence[T]) -> list[R]:
        """The answers to ``items``, in their order."""
        if self._closing:
            raise self._closing_error()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = [loop.create_future() for _ in items]
        self._queue.append(list(zip(items, futures, strict=True)))
        self._idle.clear()
        if not self._tasks:
            self._tasks = [
                loop.create_task(self._run(), name=f"{self._name}-{n}") for n in range(self._workers)
            ]
        self._wakeup.set()
        if len(futures) == 1:  # the usual caller: one request's item, without gather's wrapping
            return [await futures[0]]
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

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
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
                answers: list[R] = []
                try:
                    answers = await self._decide([item for item, _ in batch])
                except Exception:  # a bug: the worker must live on
                    log.exception("batch_failed", queue=self._name, items=len(batch))
                finally:
                    self._busy -= 1
                    self._size.observe(len(batch))
                    self._seconds.observe(time.perf_counter() - started)
                    # Nobody waits forever, not even when the batch was cancelled (shutdown);
                    # a done future is a request that went away: its item is decided all the same.
                    for n, (_, future) in enumerate(batch):
                        if not future.done():
                            future.set_result(answers[n] if n < len(answers) else self._unavailable())
            if self._busy == 0 and not self._queue:
                self._idle.set()
