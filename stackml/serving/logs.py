"""Prediction logs: sampled, written asynchronously, read back by monitoring.

Every logged prediction is one row of a Parquet *chunk* stored in the blob store and indexed
in the metadata store (:meth:`~stackml.store.serving_base.DeploymentStore.add_prediction_chunk`).
Columns of a chunk:

=================  ==================  ==========================================================
column             type                meaning
=================  ==================  ==========================================================
``request_id``     string              id the server answered with (``POST /feedback`` uses it)
``ts_ms``          int64               when the request arrived (Unix milliseconds)
``deployment``     string              deployment name
``model``          string              registered model name
``version``        int64               model version
``variant``        string              ``primary``, ``canary`` or ``shadow``
``latency_ms``     float64             time spent on the request by the server
``prediction``     string              class label for classifiers, JSON text otherwise
``confidence``     float64             highest class probability (null when not a classifier)
``probabilities``  list<float32>       class probabilities (null when not a classifier)
``input_row``      int64               row of this input in the chunk's tensor blob (or null)
``f.<feature>``    native type         one column per record feature, for record inputs
=================  ==================  ==========================================================

Tensor inputs (images) of a chunk are stacked into ONE ``.npy`` blob whose hash the index row
keeps (``tensor_blob``); row ``i`` of that array is the input of the row whose ``input_row``
is ``i``. Read with :func:`read_predictions` and :func:`read_prediction_tensors`.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput
from stackml.store import Store

__all__ = [
    "BASE_COLUMNS",
    "PredictionLogger",
    "PredictionRecord",
    "read_prediction_tensors",
    "read_predictions",
]

logger = logging.getLogger(__name__)

#: Columns every chunk has, in order, with their Arrow types (``f.*`` columns follow).
BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("request_id", pa.string()),
    ("ts_ms", pa.int64()),
    ("deployment", pa.string()),
    ("model", pa.string()),
    ("version", pa.int64()),
    ("variant", pa.string()),
    ("latency_ms", pa.float64()),
    ("prediction", pa.string()),
    ("confidence", pa.float64()),
    ("probabilities", pa.list_(pa.float32())),
    ("input_row", pa.int64()),
)
#: Column added by :func:`read_predictions`: the hash of the row's chunk tensor blob.
TENSOR_BLOB_COLUMN = "tensor_blob"


@dataclass
class PredictionRecord:
    """One prediction to log. ``features`` for record inputs, ``tensor`` for tensor inputs."""

    request_id: str
    ts_ms: int
    deployment: str
    model: str
    version: int
    variant: str
    latency_ms: float
    prediction: str
    confidence: float | None = None
    probabilities: Sequence[float] | None = None
    features: Mapping[str, Any] | None = None
    tensor: np.ndarray | None = None


@dataclass
class LoggerStats:
    """Counters of a :class:`PredictionLogger`."""

    logged: int = 0
    dropped: int = 0
    chunks: int = 0
    failures: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


def build_chunk(records: Sequence[PredictionRecord]) -> tuple[pa.Table, np.ndarray | None]:
    """The Arrow table and stacked tensor array of one chunk (pure; used by the writer)."""
    tensors: list[np.ndarray] = []
    input_rows: list[int | None] = []
    shape: tuple[int, ...] | None = None
    for record in records:
        tensor = record.tensor
        if tensor is not None and (shape is None or tensor.shape == shape):
            shape = tensor.shape
            input_rows.append(len(tensors))
            tensors.append(tensor)
        else:
            input_rows.append(None)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array([r.request_id for r in records], pa.string()),
        "ts_ms": pa.array([r.ts_ms for r in records], pa.int64()),
        "deployment": pa.array([r.deployment for r in records], pa.string()),
        "model": pa.array([r.model for r in records], pa.string()),
        "version": pa.array([r.version for r in records], pa.int64()),
        "variant": pa.array([r.variant for r in records], pa.string()),
        "latency_ms": pa.array([r.latency_ms for r in records], pa.float64()),
        "prediction": pa.array([r.prediction for r in records], pa.string()),
        "confidence": pa.array([r.confidence for r in records], pa.float64()),
        "probabilities": pa.array(
            [None if r.probabilities is None else list(r.probabilities) for r in records],
            pa.list_(pa.float32()),
        ),
        "input_row": pa.array(input_rows, pa.int64()),
    }
    names: list[str] = []
    for record in records:
        for name in record.features or {}:
            if name not in names:
                names.append(name)
    for name in names:
        values = [(r.features or {}).get(name) for r in records]
        try:
            columns[f"f.{name}"] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[f"f.{name}"] = pa.array([None if v is None else str(v) for v in values])
    stacked = np.stack(tensors) if tensors else None
    return pa.table(columns), stacked


def write_chunk(store: Store, deployment: str, records: Sequence[PredictionRecord]) -> None:
    """Store one chunk's blobs, then index it (the index row comes last)."""
    table, stacked = build_chunk(records)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    parquet_hash = store.blobs.put_bytes(sink.getvalue())
    tensor_hash = None
    if stacked is not None:
        buffer = io.BytesIO()
        np.save(buffer, stacked, allow_pickle=False)
        tensor_hash = store.blobs.put_bytes(buffer.getvalue())
    times = [r.ts_ms for r in records]
    store.metadata.add_prediction_chunk(
        deployment,
        start_ms=min(times),
        end_ms=max(times),
        num_rows=len(records),
        parquet_hash=parquet_hash,
        tensor_blob=tensor_hash,
    )


class PredictionLogger:
    """Queues prediction records and writes them as chunks from a background thread.

    :meth:`log` never blocks: when the bounded queue is full the record is dropped and
    counted (``stats.dropped``). A chunk is written every ``flush_seconds`` or when
    ``chunk_rows`` records are waiting. A failing write is counted and logged, never raised
    into a request.
    """

    def __init__(
        self,
        store: Store,
        deployment: str,
        *,
        chunk_rows: int = 2000,
        flush_seconds: float = 2.0,
        max_queue: int = 50_000,
    ) -> None:
        self.store = store
        self.deployment = deployment
        self.chunk_rows = max(1, int(chunk_rows))
        self.flush_seconds = float(flush_seconds)
        self.stats = LoggerStats()
        self._queue: queue.Queue[PredictionRecord] = queue.Queue(maxsize=max(1, max_queue))
        self._stop = threading.Event()
        self._flush_now = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def log(self, record: PredictionRecord) -> None:
        """Queue one record; drops it (counted) when the queue is full."""
        try:
            with self._idle:
                self._queue.put_nowait(record)
                self._pending += 1
        except queue.Full:
            self.stats.dropped += 1
            return
        if self._queue.qsize() >= self.chunk_rows:
            self._flush_now.set()

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything queued so far; ``False`` if it did not finish within ``timeout``."""
        deadline = time.monotonic() + timeout
        self._flush_now.set()
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.1))
                self._flush_now.set()
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush and stop the writer thread."""
        self.flush(timeout)
        self._stop.set()
        self._flush_now.set()
        self._thread.join(timeout)

    def _drain(self) -> list[PredictionRecord]:
        batch: list[PredictionRecord] = []
        while len(batch) < self.chunk_rows:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            self._flush_now.wait(self.flush_seconds)
            self._flush_now.clear()
            while True:
                batch = self._drain()
                if not batch:
                    break
                try:
                    write_chunk(self.store, self.deployment, batch)
                    self.stats.logged += len(batch)
                    self.stats.chunks += 1
                except Exception as exc:
                    self.stats.failures += 1
                    self.stats.last_error = str(exc)
                    logger.warning("could not write %d prediction records: %s", len(batch), exc)
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()
            if self._stop.is_set() and self._queue.empty():
                return


def read_predictions(
    store: Store,
    deployment: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Logged predictions of a deployment with ``since_ms <= ts_ms <= until_ms``, oldest first.

    Returns the chunk columns (see the module docstring) plus ``tensor_blob`` (the hash of
    the row's chunk tensor blob, or null), which :func:`read_prediction_tensors` uses. With
    ``limit``, the most recent ``limit`` rows are kept. An unknown deployment gives an empty
    table.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise InvalidInput(f"limit must be a non-negative integer, not {limit!r}")
    chunks = store.metadata.list_prediction_chunks(deployment, since_ms, until_ms)
    if limit is not None:  # newest chunks are enough to fill the limit
        chunks = _newest_covering(chunks, limit)
    tables = []
    for chunk in chunks:
        table = pq.read_table(io.BytesIO(store.blobs.get_bytes(chunk.parquet_hash)))
        blob = pa.array([chunk.tensor_blob] * table.num_rows, pa.string())
        tables.append(table.append_column(TENSOR_BLOB_COLUMN, blob))
    if not tables:
        return _empty()
    table = pa.concat_tables(tables, promote_options="permissive")
    ts = table.column("ts_ms").to_numpy()
    keep = np.ones(len(ts), dtype=bool)
    if since_ms is not None:
        keep &= ts >= since_ms
    if until_ms is not None:
        keep &= ts <= until_ms
    table = table.filter(pa.array(keep))
    table = table.take(pa.array(np.argsort(table.column("ts_ms").to_numpy(), kind="stable")))
    if limit is not None and table.num_rows > limit:
        table = table.slice(table.num_rows - limit, limit)
    return table


def _newest_covering(chunks: list[Any], limit: int) -> list[Any]:
    kept: list[Any] = []
    rows = 0
    for chunk in sorted(chunks, key=lambda c: c.end_ms, reverse=True):
        if rows >= limit and kept and chunk.end_ms < min(c.start_ms for c in kept):
            break
        kept.append(chunk)
        rows += chunk.num_rows
    return sorted(kept, key=lambda c: c.start_ms)


def _empty() -> pa.Table:
    fields = [pa.field(n, t) for n, t in BASE_COLUMNS] + [pa.field(TENSOR_BLOB_COLUMN, pa.string())]
    return pa.schema(fields).empty_table()


def read_prediction_tensors(store: Store, predictions: pa.Table) -> np.ndarray:
    """The tensor inputs of the rows of ``predictions`` (a :func:`read_predictions` table).

    Returns one array stacked in row order. Raises ``InvalidInput`` when a row has no logged
    tensor (record inputs, or a row logged without its input); filter those rows out first
    with ``predictions.filter(pc.is_valid(predictions["input_row"]))``.
    """
    if predictions.num_rows == 0:
        return np.zeros((0,), dtype=np.float32)
    for column in ("input_row", TENSOR_BLOB_COLUMN):
        if column not in predictions.column_names:
            raise InvalidInput(f"the table has no {column!r} column: read it with read_predictions")
    rows = predictions.column("input_row").to_pylist()
    blobs = predictions.column(TENSOR_BLOB_COLUMN).to_pylist()
    cache: dict[str, np.ndarray] = {}
    out: list[np.ndarray] = []
    for i, (row, blob) in enumerate(zip(rows, blobs, strict=True)):
        if row is None or blob is None:
            raise InvalidInput(f"row {i} has no logged tensor input")
        if blob not in cache:
            cache[blob] = np.load(io.BytesIO(store.blobs.get_bytes(blob)), allow_pickle=False)
        out.append(cache[blob][row])
    return np.stack(out)


def current_ms() -> int:
    """Now in Unix milliseconds (the ``ts_ms`` clock)."""
    return now_ms()
