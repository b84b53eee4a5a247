"""Fixtures for monitoring: an embedded store and prediction logs in the serving log schema."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stackml.store import Store, open_store

BASE = [
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
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An embedded store (SQLite + local blobs)."""
    s = open_store(str(tmp_path / "store"))
    yield s
    s.close()


def log_table(
    features: Mapping[str, Sequence[Any]] | None = None,
    *,
    n: int | None = None,
    start_ms: int = 1_000_000,
    step_ms: int = 10,
    deployment: str = "wine",
    predictions: Sequence[str] | None = None,
    confidence: Sequence[float] | None = None,
    variant: Sequence[str] | None = None,
    request_ids: Sequence[str] | None = None,
    with_inputs: bool = False,
    latency: Sequence[float] | None = None,
) -> pa.Table:
    """A prediction-log table with exactly the serving chunk schema (plus ``f.*`` columns)."""
    features = dict(features or {})
    if n is None:
        n = len(next(iter(features.values()))) if features else len(predictions or [])
    ids = list(request_ids) if request_ids is not None else [uuid.uuid4().hex for _ in range(n)]
    cols: dict[str, Any] = {
        "request_id": ids,
        "ts_ms": [start_ms + i * step_ms for i in range(n)],
        "deployment": [deployment] * n,
        "model": ["m"] * n,
        "version": [1] * n,
        "variant": list(variant) if variant is not None else ["primary"] * n,
        "latency_ms": list(latency) if latency is not None else [5.0] * n,
        "prediction": list(predictions) if predictions is not None else ["0"] * n,
        "confidence": list(confidence) if confidence is not None else [0.9] * n,
        "probabilities": [None] * n,
        "input_row": list(range(n)) if with_inputs else [None] * n,
    }
    fields = [pa.field(k, t) for k, t in BASE]
    arrays = [pa.array(cols[k], type=t) for k, t in BASE]
    for name, values in features.items():
        arr = pa.array(list(values) if not isinstance(values, np.ndarray) else values)
        fields.append(pa.field(f"f.{name}", arr.type))
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_logs(store: Store, table: pa.Table, tensors: np.ndarray | None = None) -> None:
    """Store ``table`` as one prediction chunk of its deployment (Parquet blob + index row)."""
    buf = io.BytesIO()
    pq.write_table(table, buf)
    tensor_blob = None
    if tensors is not None:
        npy = io.BytesIO()
        np.save(npy, tensors, allow_pickle=False)
        tensor_blob = store.blobs.put_bytes(npy.getvalue())
    ts = table.column("ts_ms").to_numpy()
    store.metadata.add_prediction_chunk(
        table.column("deployment")[0].as_py(),
        start_ms=int(ts.min()),
        end_ms=int(ts.max()),
        num_rows=table.num_rows,
        parquet_hash=store.blobs.put_bytes(buf.getvalue()),
        tensor_blob=tensor_blob,
    )
