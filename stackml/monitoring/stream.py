"""Drift over data larger than memory: sketch batch by batch, merge, then test once.

Every sketch is a set of counts on the reference's grid, so sketches of consecutive batches
add up. :func:`evaluate_batches` keeps one sketch per feature whatever the data size; memory
is bounded by the batch size. Exact Wasserstein needs every current value, so on merged
sketches it is computed on the grid (current mass between two reference values at their
midpoint); Kolmogorov-Smirnov, PSI, Jensen-Shannon and chi-squared are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stackml.monitoring.evaluate import WindowReport, evaluate_window, feature_columns
from stackml.monitoring.reference import NumericReference, Reference
from stackml.monitoring.sketch import (
    CategoricalSketch,
    NumericSketch,
    sketch_categorical,
    sketch_numeric,
)
from stackml.monitoring.spec import MonitorSpec

__all__ = ["evaluate_batches", "evaluate_parquet", "merge"]


def merge(
    a: NumericSketch | CategoricalSketch, b: NumericSketch | CategoricalSketch
) -> NumericSketch | CategoricalSketch:
    """The sketch of two batches together (same reference)."""
    if isinstance(a, CategoricalSketch) and isinstance(b, CategoricalSketch):
        return replace(
            a,
            cur_counts=a.cur_counts + b.cur_counts,
            unseen=a.unseen + b.unseen,
            missing=a.missing + b.missing,
            unseen_values=tuple(sorted(set(a.unseen_values) | set(b.unseen_values)))[:20],
        )
    assert isinstance(a, NumericSketch) and isinstance(b, NumericSketch)
    return replace(
        a,
        cur_le=a.cur_le + b.cur_le,
        cur_lt=a.cur_lt + b.cur_lt,
        n_cur=a.n_cur + b.n_cur,
        missing=a.missing + b.missing,
        values=None,
        cur_counts=None if a.cur_counts is None else a.cur_counts + b.cur_counts,  # type: ignore[operator]
        bin_sums=None if a.bin_sums is None else a.bin_sums + b.bin_sums,  # type: ignore[operator]
    )


def evaluate_batches(
    batches: Iterable[pa.Table | pa.RecordBatch], reference: Reference, spec: MonitorSpec
) -> WindowReport:
    """Drift and data quality of all ``batches`` together, holding one batch at a time.

    Operational statistics cover the first batch only (a sample); performance is left to
    :func:`stackml.monitoring.performance.performance_of`, which DuckDB streams itself.
    """
    merged: dict[str, NumericSketch | CategoricalSketch] = {}
    first: pa.Table | None = None
    for batch in batches:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if first is None:
            first = table
        for name, column in feature_columns(table, reference, spec.features).items():
            if column not in table.column_names:
                continue
            ref = reference.columns[name]
            data = table.column(column)
            sk = (
                sketch_numeric(ref, data)
                if isinstance(ref, NumericReference)
                else sketch_categorical(ref, data)
            )  # type: ignore[arg-type]
            merged[name] = sk if name not in merged else merge(merged[name], sk)
    if first is None:
        raise ValueError("no batches")
    for name in merged:
        sk = merged[name]
        if isinstance(sk, NumericSketch):
            merged[name] = replace(sk, values=None)
    return evaluate_window(first, reference, spec, sketches=merged)


def evaluate_parquet(
    paths: Sequence[str | Path],
    reference: Reference,
    spec: MonitorSpec,
    *,
    batch_rows: int = 1_000_000,
) -> WindowReport:
    """:func:`evaluate_batches` over Parquet files, read ``batch_rows`` rows at a time."""

    def batches() -> Iterable[pa.RecordBatch]:
        for path in paths:
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)

    return evaluate_batches(batches(), reference, spec)
