"""``AdaptiveBatcher``: one model's request queue, grouped into batches under a latency SLO.

Requests wait in a per-model queue. When the model can take a batch, a worker task waits
until ``target`` rows are queued (never more than ``max_batch_rows``; a single larger request
runs alone) or ``max_wait_ms`` have passed since the model became free or the oldest request
arrived, whichever is later (requests that queued while the model computed have had their
wait; their peers are usually on their way back). It does not wait at all when the model is
idle and every request that could join is already queued. It stacks the requests, runs the
model once in a worker thread and hands every request its own slice of the outputs. When a
model call ends, the next batch is handed to the model before the finished one's answers are
written back, so the model is not idle while they go out. ``max_concurrent_batches`` model
calls may run at once (1 by default: on a CPU one call already uses every core).

The target adapts in the manner of Clipper (Crankshaw et al., NSDI 2017): additive increase
while requests are left waiting (a larger batch would have taken them) and the model call
finishes within the SLO, multiplicative decrease when it does not; a batch that did not fill
within the wait sets the target to the rows that came, so a steady trickle is not made to
wait for rows that never come. A full queue sheds load at once with :class:`Overloaded` (the
app answers 503 with ``Retry-After``), so a burst never makes clients hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stackml.errors import StackmlError
from stackml.registry.runtime import Predictor

__all__ = ["AdaptiveBatcher", "BatchPolicy", "Overloaded"]


class Overloaded(StackmlError):
    """The model's queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class BatchPolicy:
    """How a model's requests are batched.

    Attributes:
        max_batch_rows: most rows in one model call (rows, not requests).
        max_wait_ms: longest the oldest queued request waits for a batch to fill.
        slo_ms: latency objective; a model call longer than it shrinks the target.
        max_queue_rows: rows allowed to wait; beyond it requests are refused (503).
        increase_rows: additive step of the target after a batch within the SLO.
        decrease_factor: multiplicative step after a miss (0..1).
        max_concurrent_batches: model calls in flight at once (1: one after another).
    """

    max_batch_rows: int = 64
    max_wait_ms: float = 5.0
    slo_ms: float = 100.0
    max_queue_rows: int = 4096
    increase_rows: int = 2
    decrease_factor: float = 0.5
    max_concurrent_batches: int = 1

    def __post_init__(self) -> None:
        if self.max_batch_rows < 1 or self.max_queue_rows < 1 or self.increase_rows < 1:
            raise ValueError("batch and queue sizes must be at least 1")
        if self.max_wait_ms < 0 or self.slo_ms <= 0:
            raise ValueError("max_wait_ms must be >= 0 and slo_ms > 0")
        if not 0 < self.decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")
        if self.max_concurrent_batches < 1:
            raise ValueError("max_concurrent_batches must be at least 1")


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


@dataclass
class _Item:
    inputs: Mapping[str, np.ndarray]
    rows: int
    future: asyncio.Future[tuple[dict[str, np.ndarray], Predictor]]
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """What the batcher did; read by metrics and the live snapshot."""

    batches: int = 0
    rows: int = 0
    slo_misses: int = 0
    shed: int = 0


def _predict(predictor: Predictor, batch: list[_Item]) -> dict[str, np.ndarray]:
    """Stack the batch's inputs and run the model once (in a model thread)."""
    if len(batch) == 1:
        return predictor.predict(batch[0].inputs)
    names = list(batch[0].inputs)
    return predictor.predict({n: np.concatenate([item.inputs[n] for item in batch]) for n in names})


class AdaptiveBatcher:
    """Per-model queue and batching worker; see the module docstring.

    ``predictor`` may be swapped at any time (:meth:`swap`): the next batch uses the new one,
    batches already running finish on the old one, so no request is dropped.

    ``outstanding`` (optional) counts the requests that could join a batch: those the server
    has accepted and not answered, or its open keep-alive connections, whichever is more.
    When no model call is running and all of them are in this queue, nothing can join the
    batch, so it starts at once instead of waiting ``max_wait_ms`` (a lone client pays no
    batching delay).
    """

    def __init__(
        self,
        predictor: Predictor,
        policy: BatchPolicy | None = None,
        *,
        on_batch: Callable[[int, float], None] | None = None,
        outstanding: Callable[[], int] | None = None,
    ) -> None:
        self.predictor = predictor
        self.policy = policy or BatchPolicy()
        self.target = float(min(self.policy.max_batch_rows, max(1, self.policy.increase_rows)))
        self.stats = BatchStats()
        self.queued_rows = 0
        self._queue: deque[_Item] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=self.policy.max_concurrent_batches, thread_name_prefix="batch"
        )
        self._running: set[asyncio.Future[dict[str, np.ndarray]]] = set()
        self._on_batch = on_batch
        self._outstanding = outstanding
        self._lock = threading.Lock()

    def swap(self, predictor: Predictor) -> None:
        """Serve later batches with ``predictor``."""
        with self._lock:
            self.predictor = predictor

    async def submit(
        self, inputs: Mapping[str, np.ndarray], *, timeout: float | None = None
    ) -> tuple[dict[str, np.ndarray], Predictor]:
        """Queue one request (already validated); its own outputs and the predictor that
        computed them (which may be newer than the one current at submission).

        Raises ``TimeoutError`` when no answer came within ``timeout`` seconds; the request
        then leaves the queue. (A timer on the request's future: cheaper per request than
        ``asyncio.wait_for``, which wraps the call in a task of its own.)
        """
        rows = int(next(iter(inputs.values())).shape[0])
        if self.queued_rows + rows > self.policy.max_queue_rows:
            self.stats.shed += 1
            wait = max(0.05, self.queued_rows / max(1.0, self.target) * 0.01)
            raise Overloaded(
                f"the model queue is full ({self.queued_rows} rows waiting): retry later",
                retry_after=wait,
            )
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        item = _Item(inputs, rows, loop.create_future())
        self._queue.append(item)
        self.queued_rows += rows
        assert self._wake is not None
        if len(self._queue) == 1 or self.queued_rows >= self.target or self._alone():
            self._wake.set()  # only when the worker has something new to decide
        if timeout is None:
            return await item.future
        timer = loop.call_later(timeout, _expire, item.future)
        try:
            return await item.future
        finally:
            timer.cancel()

    def _ensure_worker(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._work(), name="batcher")

    async def close(self) -> None:
        """Stop the worker; queued requests fail."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:  # batches already computing finish and answer their requests
            await asyncio.wait(set(self._running), timeout=30)
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(Overloaded("the server is shutting down"))
        self._executor.shutdown(wait=False)

    async def _work(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.policy.max_concurrent_batches)
        while True:
            await slots.acquire()  # a model call may start: form the next batch
            free = time.perf_counter()
            backlog = bool(self._queue)  # requests came while the model was busy
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            # The wait runs from when the model could take the batch: requests that queued
            # while it computed have had their wait; their peers may be on their way back.
            deadline = max(free, self._queue[0].enqueued) + self.policy.max_wait_ms / 1000.0
            full = True
            while self.queued_rows < self.target and not self._alone():
                left = deadline - time.perf_counter()
                if left <= 0:
                    full = False
                    break
                self._wake.clear()
                timer = loop.call_later(left, self._wake.set)
                await self._wake.wait()
                timer.cancel()
            batch = self._take()
            if not batch:
                slots.release()
                continue
            if not full:  # fewer rows came within the wait than the target: aim lower
                self.target = float(max(1, sum(item.rows for item in batch)))
            self._start(batch, slots, grow=backlog or bool(self._queue), waiting=self.queued_rows)

    def _start(
        self, batch: list[_Item], slots: asyncio.Semaphore, *, grow: bool, waiting: int
    ) -> None:
        """Hand ``batch`` to a model thread now (not from a task of its own, which would
        start only after every callback already waiting on the loop)."""
        predictor = self.predictor
        called = time.perf_counter()
        call = asyncio.get_running_loop().run_in_executor(
            self._executor, _predict, predictor, batch
        )
        self._running.add(call)
        call.add_done_callback(
            functools.partial(self._answer, slots, batch, predictor, called, grow, waiting)
        )

    def _alone(self) -> bool:
        """No model call is running and every request the server holds is in this queue."""
        if self._running or self._outstanding is None:
            return False
        return self._outstanding() <= len(self._queue)

    def _take(self) -> list[_Item]:
        """Pop requests up to the target; requests whose caller gave up are skipped."""
        batch: list[_Item] = []
        rows = 0
        limit = max(1, int(self.target))
        shape = None
        while self._queue:
            item = self._queue[0]
            if item.future.done():  # cancelled by a timeout or a closed connection
                self._queue.popleft()
                self.queued_rows -= item.rows
                continue
            key = tuple((n, a.shape[1:], a.dtype.str) for n, a in sorted(item.inputs.items()))
            if batch and (rows + item.rows > limit or key != shape):
                break
            shape = key
            self._queue.popleft()
            self.queued_rows -= item.rows
            batch.append(item)
            rows += item.rows
        return batch

    def _answer(
        self,
        slots: asyncio.Semaphore,
        batch: list[_Item],
        predictor: Predictor,
        called: float,
        grow: bool,
        waiting: int,
        call: asyncio.Future[dict[str, np.ndarray]],
    ) -> None:
        """A model call ended. Its slot is freed first, so the next batch is handed to the
        model before this one's answers are written back (the batcher's wake-up is queued on
        the loop ahead of the requests' own)."""
        finished = time.perf_counter()
        self._running.discard(call)
        slots.release()
        error = call.exception() if not call.cancelled() else asyncio.CancelledError()
        if error is not None:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        outputs = call.result()
        rows = 0
        for item in batch:
            part = {k: v[rows : rows + item.rows] for k, v in outputs.items()}
            rows += item.rows
            if not item.future.done():
                item.future.set_result((part, predictor))
        self._adapt((finished - called) * 1000.0, grow=grow, rows=rows, demand=rows + waiting)
        self.stats.batches += 1
        self.stats.rows += rows
        if self._on_batch is not None:
            self._on_batch(rows, (finished - batch[0].enqueued) * 1000.0)

    def _adapt(self, batch_ms: float, *, grow: bool = True, rows: int = 0, demand: int = 0) -> None:
        """AIMD on the batch's processing time: queueing is not the batch size's fault
        (larger batches drain a queue faster), the model call is. The target grows only when
        ``grow`` (requests were left waiting, so a larger batch would have taken them): by
        ``increase_rows``, or at once towards ``demand`` (the batch's ``rows`` and those left
        waiting), as far as the call, scaled linearly in rows, still meets the SLO."""
        policy = self.policy
        if batch_ms > policy.slo_ms:
            self.stats.slo_misses += 1
            self.target = max(1.0, self.target * policy.decrease_factor)
        elif grow:
            target = self.target + policy.increase_rows
            if rows and demand > target:  # as many of them as the SLO allows, at once
                fits = rows * policy.slo_ms // max(batch_ms, 1e-6)
                target = max(target, min(demand, fits))
            self.target = min(float(policy.max_batch_rows), target)
