"""Data quality of a window: missing values, out-of-range values and schema violations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from stackml.monitoring.reference import CategoricalReference, NumericReference, Reference
from stackml.monitoring.sketch import CategoricalSketch, NumericSketch

__all__ = ["quality_of"]

NUMERIC_TYPES = ("int", "float", "bool")


def type_ok(ref: NumericReference | CategoricalReference, arrow_type: pa.DataType) -> bool:
    from stackml.data.schema import logical_type

    """Whether a logged column of ``arrow_type`` can be compared with ``ref``."""
    found = logical_type(arrow_type)
    if found == "null":
        return True
    if isinstance(ref, NumericReference):
        return found in NUMERIC_TYPES
    return found in {"string", "category", "bool", "int"}


def quality_of(
    table: pa.Table,
    reference: Reference,
    features: dict[str, str],
    sketches: dict[str, NumericSketch | CategoricalSketch],
) -> tuple[dict[str, float], list[str]]:
    """Flat quality statistics and the schema violations found.

    ``features`` maps reference column to log column (``alcohol`` -> ``f.alcohol``). A value
    is out of range when it lies outside the reference's ``[min, max]``; a categorical value
    is unseen when the reference never had it.
    """
    stats: dict[str, float] = {}
    violations: list[str] = []
    for name, column in features.items():
        ref = reference.columns[name]
        if column not in table.column_names:
            violations.append(f"feature {name!r} is missing from the logged inputs")
            continue
        if not type_ok(ref, table.column(column).type):
            violations.append(f"feature {name!r} has type {table.column(column).type}")
            continue
        sk = sketches.get(name)
        if sk is None:
            continue
        rows = max(sk.n_cur + sk.missing, 1)
        stats[f"quality.{name}.missing_rate"] = sk.missing / rows
        if isinstance(sk, NumericSketch):
            below = int(sk.cur_lt[0]) if sk.ref.exact else int(sk.cur_le[0])
            above = sk.n_cur - int(sk.cur_le[-1])
            stats[f"quality.{name}.out_of_range_rate"] = (below + above) / rows
        else:
            stats[f"quality.{name}.unseen_rate"] = sk.unseen / rows
            if sk.unseen:
                violations.append(
                    f"feature {name!r} has unseen values {list(sk.unseen_values)[:5]}"
                )
    stats["quality.schema_violations"] = float(len(violations))
    rates = [v for k, v in stats.items() if k.endswith("missing_rate")]
    stats["quality.missing_rate"] = float(np.mean(rates)) if rates else 0.0
    return stats, violations


def summarize(stats: dict[str, float]) -> dict[str, Any]:
    """The largest rates, for reports."""
    return {k: v for k, v in stats.items() if k.startswith("quality.") and v > 0}
