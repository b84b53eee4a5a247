"""Metric points and their per-key summaries: the store's hot write path.

A batch is grouped by key and each key's points are packed into one ``metric_chunks`` row
(little-endian int64 steps and timestamps, float64 values), so writing 50,000 points over 10
keys inserts 10 rows. The per-key aggregates are folded in the same pass and upserted into
``latest_metrics`` in the same transaction, so summaries never disagree with the history.
Reading a history concatenates its chunks and orders the points by step, then timestamp,
then write order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, case, insert, or_, select

from stackml.errors import InvalidInput
from stackml.store.entities import MetricColumns, MetricPoint, MetricSummary
from stackml.store.series import MetricArrays
from stackml.store.sql import inputs, snapshots
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.snapshots import CHUNKS, LATEST

_INT = np.dtype("<i8")
_FLOAT = np.dtype("<f8")


@dataclass
class _KeyFold:
    """Aggregates of one key within one batch; NaN is left out of min and max."""

    step: int
    timestamp: int
    value: float | None
    min: float | None
    max: float | None
    count: int


def _pack(run_id: str, key: str, cols: MetricColumns) -> tuple[dict[str, Any], _KeyFold]:
    try:
        steps = np.asarray(cols.steps, dtype=_INT)
        stamps = np.asarray(cols.timestamps, dtype=_INT)
        values = np.asarray(cols.values, dtype=_FLOAT)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidInput(
            f"metric {key!r}: values must be numbers and steps and timestamps integers ({error})"
        ) from error
    if steps.ndim != 1 or values.ndim != 1 or not len(steps) == len(stamps) == len(values):
        raise InvalidInput(f"metric {key!r}: steps, timestamps and values must be equally long")
    if not len(values):
        raise InvalidInput(f"metric {key!r}: no points given")
    # The latest point: highest step, then highest timestamp, then the last written.
    last = int(np.lexsort((np.arange(len(steps)), stamps, steps))[-1])
    finite_or_inf = values[~np.isnan(values)]
    latest = float(values[last])
    fold = _KeyFold(
        step=int(steps[last]),
        timestamp=int(stamps[last]),
        value=None if math.isnan(latest) else latest,
        min=float(finite_or_inf.min()) if finite_or_inf.size else None,
        max=float(finite_or_inf.max()) if finite_or_inf.size else None,
        count=len(values),
    )
    row = {
        "run_id": run_id,
        "key": key,
        "count": len(values),
        "first_step": int(steps.min()),
        "last_step": int(steps.max()),
        "steps": steps.tobytes(),
        "timestamps": stamps.tobytes(),
        "values": values.tobytes(),
    }
    return row, fold


def _upsert_summaries(conn: Connection, run_id: str, folds: dict[str, _KeyFold]) -> None:
    stmt = dialect_insert(conn, LATEST)
    new = stmt.excluded
    newer = or_(
        new.step > LATEST.c.step,
        and_(new.step == LATEST.c.step, new.timestamp >= LATEST.c.timestamp),
    )
    # NULL is NaN: a NaN-only batch leaves min/max alone, a NaN-only history takes the batch's.
    lower = case(
        (new.min_value.is_(None), LATEST.c.min_value),
        (LATEST.c.min_value.is_(None), new.min_value),
        (new.min_value < LATEST.c.min_value, new.min_value),
        else_=LATEST.c.min_value,
    )
    upper = case(
        (new.max_value.is_(None), LATEST.c.max_value),
        (LATEST.c.max_value.is_(None), new.max_value),
        (new.max_value > LATEST.c.max_value, new.max_value),
        else_=LATEST.c.max_value,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={
            "value": case((newer, new.value), else_=LATEST.c.value),
            "step": case((newer, new.step), else_=LATEST.c.step),
            "timestamp": case((newer, new.timestamp), else_=LATEST.c.timestamp),
            "min_value": lower,
            "max_value": upper,
            "count": LATEST.c.count + new.count,
        },
    )
    # Sorted keys: concurrent writers lock summary rows in the same order (no deadlocks).
    conn.execute(
        stmt,
        [
            {
                "run_id": run_id,
                "key": key,
                "value": fold.value,
                "step": fold.step,
                "timestamp": fold.timestamp,
                "min_value": fold.min,
                "max_value": fold.max,
                "count": fold.count,
            }
            for key, fold in sorted(folds.items())
        ],
    )


def group(points: Sequence[MetricPoint]) -> dict[str, MetricColumns]:
    """Points grouped by key into columns."""
    try:
        return MetricColumns.group(points)
    except AttributeError as error:
        raise InvalidInput(f"points must be MetricPoint objects: {error}") from error


def prepare(
    run_id: str, columns: Mapping[str, MetricColumns]
) -> tuple[list[dict[str, Any]], dict[str, _KeyFold]]:
    """Validate and pack columns, and fold their summaries (before the transaction)."""
    rows: list[dict[str, Any]] = []
    folds: dict[str, _KeyFold] = {}
    for key, cols in columns.items():
        inputs.key(key, what="metric key")
        row, fold = _pack(run_id, key, cols)
        rows.append(row)
        folds[key] = fold
    return rows, folds


def write(
    conn: Connection, run_id: str, rows: list[dict[str, Any]], folds: dict[str, _KeyFold]
) -> None:
    """Insert packed chunks and update the summaries, inside the caller's transaction."""
    if rows:
        conn.execute(insert(CHUNKS), rows)
        _upsert_summaries(conn, run_id, folds)


def history_arrays(
    conn: Connection,
    run_id: str,
    key: str,
    start_step: int | None = None,
    end_step: int | None = None,
) -> MetricArrays:
    """The points of one metric as arrays, ordered by step, then timestamp, then write order.

    A step range reads only the chunks whose ``[first_step, last_step]`` overlaps it, so
    zooming into a long history does not unpack all of it.
    """
    query = (
        select(CHUNKS.c.steps, CHUNKS.c.timestamps, CHUNKS.c["values"])
        .where(CHUNKS.c.run_id == run_id, CHUNKS.c.key == key)
        .order_by(CHUNKS.c.id)
    )
    if start_step is not None:
        query = query.where(CHUNKS.c.last_step >= start_step)
    if end_step is not None:
        query = query.where(CHUNKS.c.first_step <= end_step)
    chunks = conn.execute(query).all()
    if not chunks:
        return MetricArrays.empty()
    steps = np.concatenate([np.frombuffer(c[0], dtype=_INT) for c in chunks])
    stamps = np.concatenate([np.frombuffer(c[1], dtype=_INT) for c in chunks])
    values = np.concatenate([np.frombuffer(c[2], dtype=_FLOAT) for c in chunks])
    # Histories are nearly always logged in step order: checking is far cheaper than sorting.
    if len(steps) > 1 and not bool((steps[1:] > steps[:-1]).all()):
        order = np.lexsort((stamps, steps))  # stable: equal (step, timestamp) keep write order
        steps, stamps, values = steps[order], stamps[order], values[order]
    arrays = MetricArrays(steps, stamps, values, len(values))
    return arrays.in_steps(start_step, end_step)


def metric_history(conn: Connection, run_id: str, key: str) -> list[MetricPoint]:
    """Every point of one metric, ordered by step, then timestamp, then write order."""
    arrays = history_arrays(conn, run_id, key)
    return [
        MetricPoint(key, value, step, stamp)
        for step, stamp, value in zip(
            arrays.steps.tolist(), arrays.timestamps.tolist(), arrays.values.tolist(), strict=True
        )
    ]


def metric_summaries(conn: Connection, run_id: str) -> dict[str, MetricSummary]:
    rows = conn.execute(select(LATEST).where(LATEST.c.run_id == run_id).order_by(LATEST.c.key))
    return {row.key: snapshots.summary(row) for row in rows}
