"""Wasserstein (earth mover's) distance against a reference sketch, by SciPy."""

from __future__ import annotations

import numpy as np
from scipy import stats

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.sketch import NumericSketch


class WassersteinTest(DriftTest):
    """``scipy.stats.wasserstein_distance`` between reference and current.

    Exact references give SciPy's value on the raw data (the reference as weighted distinct
    values). Binned references put reference mass at bin centres and current mass at its mean
    within each bin. With ``normed`` (the default) the distance is divided by the reference's
    standard deviation, so one threshold (0.1) suits every column.
    """

    name = "wasserstein"
    default_threshold = 0.1

    def __init__(self, threshold: float | None = None, *, normed: bool = True) -> None:
        super().__init__(threshold)
        self.normed = normed

    def compare(self, sketch: NumericSketch) -> CheckResult:
        ref = sketch.ref
        if sketch.n_ref == 0 or sketch.n_cur == 0:
            return CheckResult(ref.name, self.name, 0.0, None, self.threshold)
        if ref.exact and sketch.values is not None:
            dist = stats.wasserstein_distance(ref.points, sketch.values, u_weights=ref.counts)
        elif ref.exact:
            # Merged (streamed) sketch: current mass equal to a reference value sits there,
            # mass between two reference values at their midpoint, mass outside at the ends.
            pts = ref.points
            eq = sketch.cur_le - sketch.cur_lt
            between = sketch.cur_lt[1:] - sketch.cur_le[:-1]
            values = np.concatenate((pts, (pts[:-1] + pts[1:]) / 2, pts[[0, -1]]))
            below, above = sketch.cur_lt[0], sketch.n_cur - sketch.cur_le[-1]
            weights = np.concatenate((eq, between, [below, above])).astype(np.float64)
            keep = weights > 0
            dist = stats.wasserstein_distance(
                pts, values[keep], u_weights=ref.counts, v_weights=weights[keep]
            )
        else:
            assert sketch.cur_counts is not None and sketch.bin_sums is not None
            edges = ref.points
            centers = (edges[:-1] + edges[1:]) / 2
            counts = sketch.cur_counts
            inner = np.concatenate(([edges[0]], centers, [edges[-1]]))
            where = counts > 0
            means = np.where(where, sketch.bin_sums / np.maximum(counts, 1), inner)
            dist = stats.wasserstein_distance(
                centers, means[where], u_weights=ref.counts, v_weights=counts[where]
            )
        scale = ref.std if self.normed and ref.std > 0 else 1.0
        return self._distance(ref.name, float(dist) / scale, raw=float(dist))
