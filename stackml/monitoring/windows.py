"""Windows over prediction logs, by time or by count, computed with DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from stackml.monitoring.spec import WindowSpec

__all__ = ["Window", "split_windows"]


@dataclass(frozen=True)
class Window:
    """A slice of the logs: rows with ``start_ms <= ts_ms < end_ms`` (or the n-th ``size`` rows)."""

    index: int
    start_ms: int
    end_ms: int
    table: pa.Table
    complete: bool = True


def split_windows(
    table: pa.Table, spec: WindowSpec, *, include_partial: bool = True
) -> Iterator[Window]:
    """Yield the windows of ``table`` in time order.

    Time windows are aligned to multiples of ``spec.size`` milliseconds; the newest one is
    ``complete=False`` while it is still open. Count windows take ``spec.size`` rows in
    ``(ts_ms, request_id)`` order; a trailing short window is ``complete=False``.
    """
    if table.num_rows == 0:
        return
    con = duckdb.connect()
    con.register("logs", table)
    order = "ts_ms, request_id" if "request_id" in table.column_names else "ts_ms"
    if spec.kind == "time":
        key = f"CAST(floor(ts_ms / {int(spec.size)}) AS BIGINT)"
    else:
        key = (
            f"CAST(floor((row_number() OVER (ORDER BY {order}) - 1) / {int(spec.size)}) AS BIGINT)"
        )
    ordered = con.sql(f"SELECT *, {key} AS __window FROM logs ORDER BY {order}").to_arrow_table()
    ids = ordered.column("__window").to_numpy()
    ordered = ordered.drop_columns(["__window"])
    ts = ordered.column("ts_ms").to_numpy()
    bounds = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [ids.size]))
    last = len(starts) - 1
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        part = ordered.slice(int(a), int(b - a))
        if spec.kind == "time":
            w0 = int(ids[a]) * spec.size
            start, end, complete = w0, w0 + spec.size, i < last
        else:
            start, end, complete = int(ts[a]), int(ts[b - 1]) + 1, (b - a) == spec.size
        if complete or include_partial:
            yield Window(int(ids[a]), start, end, part, complete)
