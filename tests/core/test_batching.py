"""The group-commit queue TimeTracker's scans and the warehouse's movements share."""

from __future__ import annotations

import asyncio

import pytest

from basis.core.batching import BatchQueue, batch_metrics
from basis.core.errors import ServiceUnavailable

METRICS = batch_metrics("basis_test_batching", "Items")


def _queue(decide, **kw):  # type: ignore[no-untyped-def]
    return BatchQueue(
        decide,
        name="test-batching",
        unavailable=lambda: "unavailable",
        closing=lambda: ServiceUnavailable("closing", code="shutting_down"),
        metrics=METRICS,
        **kw,
    )


async def test_requests_that_arrive_together_share_a_batch_and_keep_their_order() -> None:
    batches: list[list[int]] = []
    gate = asyncio.Event()

    async def decide(items: list[int]) -> list[str]:
        batches.append(items)
        await gate.wait()
        return [f"done {n}" for n in items]

    queue = _queue(decide, workers=1, max_batch=4)
    first = asyncio.create_task(queue.submit([1]))
    await asyncio.sleep(0)
    # While the first batch waits for "the database", the next requests queue up together.
    rest = [asyncio.create_task(queue.submit([n, n + 10])) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == ["done 1"]
    assert [await task for task in rest] == [
        ["done 2", "done 12"],
        ["done 3", "done 13"],
        ["done 4", "done 14"],
    ]
    # At most max_batch items, and one submission's items never split over two batches.
    assert batches == [[1], [2, 12, 3, 13], [4, 14]]
    await queue.close()


async def test_a_batch_that_fails_answers_unavailable_and_the_worker_lives_on() -> None:
    async def decide(items: list[int]) -> list[str]:
        if 0 in items:
            raise RuntimeError("a bug")
        return ["ok" for _ in items]

    queue = _queue(decide, workers=1)
    assert await queue.submit([0, 1]) == ["unavailable", "unavailable"]
    assert await queue.submit([2]) == ["ok"]
    await queue.close()


async def test_closing_decides_what_is_queued_then_refuses() -> None:
    async def decide(items: list[int]) -> list[str]:
        await asyncio.sleep(0.01)
        return ["stored" for _ in items]

    queue = _queue(decide)
    pending = asyncio.create_task(queue.submit([1, 2]))
    await asyncio.sleep(0)
    await queue.close()
    assert await pending == ["stored", "stored"]
    with pytest.raises(ServiceUnavailable):
        await queue.submit([3])
