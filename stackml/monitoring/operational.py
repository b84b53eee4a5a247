"""Operational health of a window: latency percentiles, error rate and throughput."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["operational_of"]


def operational_of(table: pa.Table) -> dict[str, float]:
    """``operational.*`` statistics of logged predictions.

    A row is an error when its ``error`` column (if logged) is set or when it has no
    ``prediction``.
    """
    n = table.num_rows
    out: dict[str, float] = {"operational.rows": float(n)}
    if n == 0:
        return out
    if "latency_ms" in table.column_names:
        lat = table.column("latency_ms").cast(pa.float64()).to_numpy(zero_copy_only=False)
        lat = lat[np.isfinite(lat)]
        if lat.size:
            p50, p95, p99 = np.percentile(lat, [50, 95, 99])
            out.update(
                {
                    "operational.latency_p50": float(p50),
                    "operational.latency_p95": float(p95),
                    "operational.latency_p99": float(p99),
                    "operational.latency_mean": float(lat.mean()),
                }
            )
    errors = 0
    if "error" in table.column_names:
        errors = int(pc.sum(pc.is_valid(table.column("error"))).as_py() or 0)
    elif "prediction" in table.column_names:
        errors = int(table.column("prediction").null_count)
    out["operational.error_rate"] = errors / n
    if "ts_ms" in table.column_names:
        ts = table.column("ts_ms").to_numpy(zero_copy_only=False)
        span = (float(ts.max()) - float(ts.min())) / 1000.0
        if span > 0:
            out["operational.throughput_rps"] = n / span
    return out
