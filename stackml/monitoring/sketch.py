"""One vectorised pass over a current column, shared by every drift test of that column.

:func:`sketch_numeric` places the current values on the reference's grid once — the distinct
reference values (exact references) or the histogram bins (binned references) — and keeps
cumulative counts at the grid points. Kolmogorov-Smirnov, Wasserstein, PSI, Jensen-Shannon and
chi-squared are then O(grid) computations on those counts, so testing a column with several
tests costs one pass over its values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stackml.monitoring.reference import CategoricalReference, NumericReference, _floats

__all__ = ["CategoricalSketch", "NumericSketch", "sketch_categorical", "sketch_numeric"]

#: Bins of the coarse partition used by PSI, Jensen-Shannon and chi-squared on numeric columns.
COARSE_BINS = 10


@dataclass(frozen=True)
class NumericSketch:
    """Reference and current cumulative counts at the grid points of a numeric reference.

    ``ref_le[i]`` / ``cur_le[i]``: reference / current values ``<= grid[i]``;
    ``cur_lt[i]``: current values ``< grid[i]`` (equal to ``cur_le`` shifted for binned grids).
    ``bin_sums`` are sums of current values per bin (binned references; under- and overflow
    included), so Wasserstein places current mass at its mean within a bin.
    """

    ref: NumericReference
    grid: np.ndarray
    ref_le: np.ndarray
    cur_le: np.ndarray
    cur_lt: np.ndarray
    n_cur: int
    missing: int
    values: np.ndarray | None
    cur_counts: np.ndarray | None = None
    bin_sums: np.ndarray | None = None

    @property
    def n_ref(self) -> int:
        """Number of reference values."""
        return int(self.ref_le[-1]) if self.ref_le.size else 0

    def coarse(self, bins: int = COARSE_BINS) -> tuple[np.ndarray, np.ndarray]:
        """Reference and current counts on ``bins`` intervals of about equal reference mass.

        Current values beyond the reference's range fall in the first or last interval.
        """
        total = self.ref_le[-1]
        targets = np.arange(1, bins) * (total / bins)
        cut = np.unique(np.searchsorted(self.ref_le, targets, side="left"))
        cut = cut[cut < self.ref_le.size - 1]
        ref_cum = np.concatenate(([0], self.ref_le[cut], [total]))
        cur_cum = np.concatenate(([0], self.cur_le[cut], [self.n_cur]))
        return np.diff(ref_cum).astype(np.float64), np.diff(cur_cum).astype(np.float64)


def _uniform(edges: np.ndarray) -> bool:
    widths = np.diff(edges)
    return bool(np.allclose(widths, widths[0], rtol=1e-9, atol=0.0))


def _bin_uniform(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index in 0..B+1 (0 underflow, B+1 overflow) by arithmetic, in a few vector passes.

    Values within a rounding error of an inner edge may land in the neighbouring bin, which
    moves a negligible mass; the top edge itself belongs to the last bin, as in NumPy.
    """
    nbins = edges.size - 1
    lo, hi = float(edges[0]), float(edges[-1])
    scaled = x - lo
    scaled *= nbins / (hi - lo)
    scaled += 1.0
    np.clip(scaled, 0.0, nbins + 1.0, out=scaled)
    idx = scaled.astype(np.intp)
    idx[x == hi] = nbins
    return idx


def sketch_numeric(ref: NumericReference, values: object) -> NumericSketch:
    """Place current ``values`` (array-like or Arrow; nulls and NaN counted as missing)."""
    x, missing = _floats(values)
    n = int(x.size)
    ref_le = np.cumsum(ref.counts)
    if ref.exact:
        grid = ref.points
        pos = np.searchsorted(grid, x, side="left")
        k = grid.size
        le_counts = np.bincount(pos, minlength=k + 1)[:k]
        inside = pos < k
        eq = np.zeros(k, dtype=np.int64)
        if n:
            hits = pos[inside][x[inside] == grid[pos[inside]]]
            eq = np.bincount(hits, minlength=k)
        cur_le = np.cumsum(le_counts)
        return NumericSketch(ref, grid, ref_le, cur_le, cur_le - eq, n, missing, x)
    edges = ref.points
    nb = edges.size - 1
    if _uniform(edges):
        idx = _bin_uniform(x, edges)
    else:
        bound = edges.copy()
        bound[-1] = np.nextafter(bound[-1], np.inf)  # the last bin is closed
        idx = np.searchsorted(bound, x, side="right")
    counts = np.bincount(idx, minlength=nb + 2)
    sums = np.bincount(idx, weights=x, minlength=nb + 2)
    # Grid: the lower edge of the first bin, then every upper edge.
    grid = edges
    ref_grid = np.concatenate(([0], ref_le))
    cur_grid = np.cumsum(counts[: nb + 1])
    # Within a bin neither CDF is known, so "just below an edge" is the previous edge.
    cur_below = np.concatenate(([0], cur_grid[:-1]))
    return NumericSketch(ref, grid, ref_grid, cur_grid, cur_below, n, missing, None, counts, sums)


@dataclass(frozen=True)
class CategoricalSketch:
    """Reference and current counts over the reference's categories, plus unseen values."""

    ref: CategoricalReference
    categories: tuple[str, ...]
    ref_counts: np.ndarray
    cur_counts: np.ndarray
    unseen: int
    missing: int
    unseen_values: tuple[str, ...] = ()

    @property
    def n_cur(self) -> int:
        """Number of non-missing current values."""
        return int(self.cur_counts.sum()) + self.unseen


def sketch_categorical(ref: CategoricalReference, values: object) -> CategoricalSketch:
    """Count current values (array-like or Arrow) per reference category."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = values if isinstance(values, (pa.ChunkedArray, pa.Array)) else pa.array(list(values))  # type: ignore[call-overload]
    arr = arr.cast(pa.string())
    counted = {
        str(v["values"]): int(v["counts"])
        for v in pc.value_counts(arr).to_pylist()
        if v["values"] is not None
    }
    cats = tuple(ref.frequencies)
    cur = np.array([counted.pop(c, 0) for c in cats], dtype=np.float64)
    refc = np.array([ref.frequencies[c] for c in cats], dtype=np.float64)
    return CategoricalSketch(
        ref,
        cats,
        refc,
        cur,
        sum(counted.values()),
        int(arr.null_count),
        tuple(sorted(counted))[:20],
    )
