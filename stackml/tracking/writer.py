"""The background metric writer: ``log_metrics`` never waits on I/O.

The caller thread appends one record per ``log_metrics`` call (not one per point) to a buffer
bounded in *points*; a daemon thread swaps the buffer out, turns records into per-key
columns (:class:`~stackml.store.entities.MetricColumns`) grouped by run and writes each batch
with one ``MetadataStore.log_metric_columns`` call. When the buffer is full the caller waits,
so memory stays bounded however fast points arrive.

Ordering is FIFO, so :meth:`MetricWriter.flush` only has to wait until the count of points
handled reaches the count enqueued when it was called. A write that keeps failing after its
retries is counted as lost and its error is kept until ``flush`` raises it.
"""

from __future__ import annotations

import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from stackml.errors import InvalidInput, NotFound, StackmlError, StoreUnavailable
from stackml.store.base import MetadataStore
from stackml.store.entities import MetricColumns

__all__ = ["MetricRecord", "MetricWriter", "flush_all_writers", "iter_batches"]

#: ``(run_id, step, steps, timestamp_ms, values)``: ``steps`` maps key -> step when the
#: steps were assigned per key, else ``None`` and ``step`` applies to every value.
MetricRecord = tuple[str, int, "dict[str, int] | None", int, "dict[str, float]"]

#: Points per ``MetadataStore.log_metrics`` call: large enough to amortise a transaction,
#: small enough to keep one request body modest for the REST store.
BATCH_POINTS = 50_000
#: Seconds the writer lets points accumulate before writing a partial batch.
LINGER_S = 0.25
#: Waits between attempts of a failing write; its length is the number of retries.
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)

# Errors that retrying cannot fix: the run is gone or the points are malformed.
_PERMANENT = (NotFound, InvalidInput)


def iter_batches(
    records: list[MetricRecord], size: int
) -> Iterator[tuple[str, dict[str, MetricColumns], int]]:
    """Turn records into ``(run_id, columns by key, point count)`` batches of about ``size``.

    Points of one run keep their order. Columns are filled as batches are written, so only a
    batch's worth of values is alive at once, and no object is built per point.
    """
    pending: dict[str, tuple[dict[str, tuple[list[int], list[int], list[float]]], list[int]]] = {}
    for run_id, step, steps, timestamp, values in records:
        entry = pending.get(run_id)
        if entry is None:
            entry = pending[run_id] = ({}, [0])
        columns, count = entry
        for key, value in values.items():
            cols = columns.get(key)
            if cols is None:
                cols = columns[key] = ([], [], [])
            cols[0].append(step if steps is None else steps[key])
            cols[1].append(timestamp)
            cols[2].append(value)
        count[0] += len(values)
        if count[0] >= size:
            yield run_id, _freeze(columns), count[0]
            del pending[run_id]
    for run_id, (columns, count) in pending.items():
        yield run_id, _freeze(columns), count[0]


def _freeze(
    columns: dict[str, tuple[list[int], list[int], list[float]]],
) -> dict[str, MetricColumns]:
    return {key: MetricColumns(*cols) for key, cols in columns.items()}


_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class MetricWriter:
    """Buffers metric records and writes them to one ``MetadataStore`` from a daemon thread.

    Args:
        metadata: The store to write to; it must be thread-safe (see ``MetadataStore``).
        capacity: Most points buffered before ``put`` blocks the caller.
        batch_points: Points per store call.
        linger_s: How long the writer waits for a full batch before writing a partial one.
        retry_delays_s: Waits between attempts of a failing write.
    """

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        capacity: int = 1_000_000,
        batch_points: int = BATCH_POINTS,
        linger_s: float = LINGER_S,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        self._metadata = metadata
        self._capacity = max(1, capacity)
        self._batch_points = max(1, batch_points)
        self._linger_s = linger_s
        self._retry_delays_s = retry_delays_s
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)
        self._has_room = threading.Condition(self._lock)
        self._progressed = threading.Condition(self._lock)
        self._buffer: list[MetricRecord] = []
        self._buffered = 0  # points in _buffer
        self._in_flight = 0  # points taken by the writer, not yet handled
        self._enqueued = 0  # points ever accepted
        self._handled = 0  # points written or given up on
        self._lost = 0  # points given up on
        self._errors: list[BaseException] = []
        self._urgent = 0  # flushes waiting: write now instead of lingering
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="stackml-metric-writer", daemon=True)
        self._thread.start()
        _writers.add(self)

    # -- caller side --------------------------------------------------------------------
    def put(self, record: MetricRecord, points: int) -> None:
        """Queue one record of ``points`` points, waiting while the buffer is full."""
        with self._lock:
            if self._closed:
                raise StackmlError("the metric writer is closed; start a new run to log metrics")
            # A record larger than the whole capacity is let through once the buffer is
            # empty, so an oversized call waits instead of deadlocking.
            while self._buffered + self._in_flight + points > self._capacity and (
                self._buffered or self._in_flight
            ):
                self._has_work.notify()
                self._has_room.wait()
            self._buffer.append(record)
            self._buffered += points
            self._enqueued += points
            if self._buffered >= self._batch_points:
                self._has_work.notify()

    def pending(self) -> int:
        """Points accepted but not yet written (or given up on)."""
        with self._lock:
            return self._enqueued - self._handled

    def backlog(self) -> int:
        """Points held in memory: buffered or being written (what ``capacity`` bounds)."""
        with self._lock:
            return self._buffered + self._in_flight

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every point queued before this call is handled; ``False`` on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._enqueued
            if self._handled >= target:
                return True
            self._urgent += 1
            self._has_work.notify()
            try:
                while self._handled < target:
                    if not self._thread.is_alive():
                        return False
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._progressed.wait(remaining if remaining is not None else 1.0)
            finally:
                self._urgent -= 1
            return True

    def flush(self, timeout: float | None = None) -> None:
        """Block until every point queued before the call is durable.

        Raises:
            StoreUnavailable: The points were not all written within ``timeout`` seconds.
            StackmlError: A write failed even after retries (the points are lost); raised
                once, by the first flush after the failure.
        """
        if not self.wait(timeout):
            raise StoreUnavailable(
                f"{self.pending()} metric points were not written within {timeout} s; "
                "check that the store is reachable and call flush() again"
            )
        self.raise_errors()

    def raise_errors(self) -> None:
        """Raise, once, a write failure that happened since the last call."""
        with self._lock:
            errors, self._errors = self._errors, []
            lost, self._lost = self._lost, 0
        if errors:
            first = errors[0]
            raise StackmlError(
                f"{lost} metric points could not be written to the store: {first}"
            ) from first

    def close(self, timeout: float | None = None) -> int:
        """Write what is queued, stop the thread and return how many points were not written."""
        self.wait(timeout)
        with self._lock:
            self._closed = True
            self._has_work.notify()
            unwritten = self._enqueued - self._handled + self._lost
        self._thread.join(timeout=1.0)
        return unwritten

    # -- writer thread ------------------------------------------------------------------
    def _take(self) -> list[MetricRecord] | None:
        with self._lock:
            deadline = time.monotonic() + self._linger_s
            while not self._closed:
                if self._buffer and (self._urgent or self._buffered >= self._batch_points):
                    break
                remaining = deadline - time.monotonic()
                if self._buffer and remaining <= 0:
                    break
                if not self._buffer:
                    deadline = time.monotonic() + self._linger_s
                    remaining = self._linger_s
                self._has_work.wait(remaining)
            if not self._buffer:
                return None
            records, self._buffer = self._buffer, []
            self._in_flight, self._buffered = self._buffered, 0
            return records

    def _run(self) -> None:
        while True:
            records = self._take()
            if records is None:
                return
            written = 0
            for run_id, columns, count in iter_batches(records, self._batch_points):
                self._write(run_id, columns, count)
                written += count
                with self._lock:
                    self._in_flight -= count
                    self._has_room.notify_all()
            # Runs are batched separately, so points finish out of order within one chunk:
            # count the chunk as handled only once all of it is, which keeps flush() exact.
            with self._lock:
                self._handled += written
                self._progressed.notify_all()

    def _write(self, run_id: str, columns: dict[str, MetricColumns], count: int) -> None:
        error: BaseException | None = None
        for delay in (*self._retry_delays_s, None):
            try:
                self._metadata.log_metric_columns(run_id, columns)
                return
            except _PERMANENT as exc:
                error = exc
                break
            except Exception as exc:  # retried: the store may come back
                error = exc
                if delay is not None:
                    time.sleep(delay)
        with self._lock:
            self._lost += count
            if error is not None:
                self._errors.append(error)


def flush_all_writers(timeout: float | None = None) -> None:
    """Flush every live writer (see :meth:`MetricWriter.flush`)."""
    for writer in list(_writers):
        writer.flush(timeout)


def report_at_exit(timeout: float, stream: Any = None) -> None:
    """Exit hook: give queued points ``timeout`` seconds and report those not written."""
    out = stream or sys.stderr
    deadline = time.monotonic() + timeout
    for writer in list(_writers):
        unwritten = writer.close(max(0.0, deadline - time.monotonic()))
        if unwritten:
            print(
                f"stackml: {unwritten} metric points could not be written before exit",
                file=out,
            )
