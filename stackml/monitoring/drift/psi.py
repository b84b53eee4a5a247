"""Population stability index."""

from __future__ import annotations

import numpy as np

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.sketch import CategoricalSketch, NumericSketch

#: Proportions are clipped here so an empty bin does not make the index infinite.
EPSILON = 1e-4


def proportions(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current proportions over the same bins, clipped away from zero."""
    p = np.clip(ref / max(ref.sum(), 1.0), EPSILON, None)
    q = np.clip(cur / max(cur.sum(), 1.0), EPSILON, None)
    return p, q


def bins_of(sketch: NumericSketch | CategoricalSketch) -> tuple[np.ndarray, np.ndarray]:
    """Reference and current counts on the bins distance tests share (unseen values last)."""
    if isinstance(sketch, CategoricalSketch):
        return (
            np.append(sketch.ref_counts, 0.0),
            np.append(sketch.cur_counts, float(sketch.unseen)),
        )
    return sketch.coarse()


class PSITest(DriftTest):
    """``sum((q - p) * ln(q / p))`` over ten reference-quantile bins or the categories."""

    name = "psi"
    applies_to = ("numeric", "categorical")
    default_threshold = 0.2

    def compare(self, sketch: NumericSketch | CategoricalSketch) -> CheckResult:
        p, q = proportions(*bins_of(sketch))
        return self._distance(sketch.ref.name, float(np.sum((q - p) * np.log(q / p))))
