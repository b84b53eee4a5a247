"""Metric points and their per-key summaries: the store's hot write path.

``log_metrics`` inserts a whole batch with one DBAPI ``executemany`` (SQLite) or one ``COPY``
(PostgreSQL), then upserts one ``latest_metrics`` row per key in the same transaction. The
batch's per-key aggregates are folded in Python first, so the summary upsert touches a
handful of rows however large the batch is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, or_, select

from stackml.errors import InvalidInput
from stackml.store.entities import MetricPoint, MetricSummary
from stackml.store.sql import inputs, snapshots
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.snapshots import LATEST, METRICS

_SQLITE_INSERT = (
    "INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) VALUES (?, ?, ?, ?, ?, ?)"
)
_PG_COPY = "COPY metrics (run_id, key, step, timestamp, value, is_nan) FROM STDIN (FORMAT BINARY)"
_PG_TYPES = ["varchar", "varchar", "int8", "int8", "float8", "bool"]

Row = tuple[str, str, int, int, "float | None", bool]


@dataclass
class _KeyFold:
    """Aggregates of one key within one batch; NaN is left out of min and max."""

    step: int
    timestamp: int
    value: float | None
    min: float | None
    max: float | None
    count: int


def _prepare(run_id: str, points: Sequence[MetricPoint]) -> tuple[list[Row], dict[str, _KeyFold]]:
    rows: list[Row] = []
    append = rows.append
    folds: dict[str, _KeyFold] = {}
    try:
        for point in points:
            key = point.key
            value = float(point.value)
            step = int(point.step)
            timestamp = int(point.timestamp)
            finite_or_inf: float | None = None if value != value else value
            append((run_id, key, step, timestamp, finite_or_inf, finite_or_inf is None))
            fold = folds.get(key)
            if fold is None:
                folds[key] = _KeyFold(
                    step, timestamp, finite_or_inf, finite_or_inf, finite_or_inf, 1
                )
                continue
            fold.count += 1
            if step > fold.step or (step == fold.step and timestamp >= fold.timestamp):
                fold.step, fold.timestamp, fold.value = step, timestamp, finite_or_inf
            if finite_or_inf is not None:
                if fold.min is None or finite_or_inf < fold.min:
                    fold.min = finite_or_inf
                if fold.max is None or finite_or_inf > fold.max:
                    fold.max = finite_or_inf
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        raise InvalidInput(
            f"metric points need a key, a numeric value and integer step and timestamp: {error}"
        ) from error
    for key in folds:
        inputs.key(key, what="metric key")
    return rows, folds


def _insert_points(conn: Connection, rows: list[Row]) -> None:
    if conn.dialect.name == "postgresql":
        driver_conn = conn.connection.driver_connection
        assert driver_conn is not None
        with driver_conn.cursor() as cursor, cursor.copy(_PG_COPY) as copy:
            copy.set_types(_PG_TYPES)
            for row in rows:
                copy.write_row(row)
        return
    conn.exec_driver_sql(_SQLITE_INSERT, rows)


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


def prepare(run_id: str, points: Sequence[MetricPoint]) -> tuple[list[Row], dict[str, _KeyFold]]:
    """Validate points and fold their summaries (done before the transaction starts)."""
    return _prepare(run_id, points)


def write(conn: Connection, run_id: str, rows: list[Row], folds: dict[str, _KeyFold]) -> None:
    """Insert prepared points and update the summaries, inside the caller's transaction."""
    if rows:
        _insert_points(conn, rows)
        _upsert_summaries(conn, run_id, folds)


def metric_history(conn: Connection, run_id: str, key: str) -> list[MetricPoint]:
    query = (
        select(METRICS.c.step, METRICS.c.timestamp, METRICS.c.value, METRICS.c.is_nan)
        .where(METRICS.c.run_id == run_id, METRICS.c.key == key)
        .order_by(METRICS.c.step, METRICS.c.timestamp, METRICS.c.id)
    )
    nan = math.nan
    return [
        MetricPoint(key, nan if is_nan or value is None else value, step, timestamp)
        for step, timestamp, value, is_nan in conn.execute(query)
    ]


def metric_summaries(conn: Connection, run_id: str) -> dict[str, MetricSummary]:
    rows = conn.execute(select(LATEST).where(LATEST.c.run_id == run_id).order_by(LATEST.c.key))
    return {row.key: snapshots.summary(row) for row in rows}
