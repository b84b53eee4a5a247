"""Pearson's chi-squared goodness of fit of the current counts to the reference proportions."""

from __future__ import annotations

import numpy as np
from scipy import stats

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.sketch import CategoricalSketch, NumericSketch

#: Expected count given to values the reference never saw (keeps the statistic finite).
UNSEEN_EXPECTED = 0.5


class ChiSquareTest(DriftTest):
    """``scipy.stats.chisquare(current, reference proportions x n)``.

    Categories the reference never saw form one extra cell with an expected count of 0.5, so
    they raise the statistic steeply instead of making it infinite. Numeric columns use ten
    reference-quantile bins.
    """

    name = "chi2"
    applies_to = ("categorical", "numeric")
    has_p_value = True

    def compare(self, sketch: NumericSketch | CategoricalSketch) -> CheckResult:
        if isinstance(sketch, CategoricalSketch):
            ref, cur = sketch.ref_counts, sketch.cur_counts
            unseen = sketch.unseen
        else:
            ref, cur = sketch.coarse()
            unseen = 0
        n = cur.sum() + unseen
        keep = ref > 0
        ref, cur = ref[keep], cur[keep]
        if n == 0 or ref.size < 2:
            return CheckResult(sketch.ref.name, self.name, 0.0, 1.0)
        expected = ref / ref.sum() * n
        stat = float(np.sum((cur - expected) ** 2 / expected))
        dof = ref.size - 1
        if unseen:
            stat += (unseen - UNSEEN_EXPECTED) ** 2 / UNSEEN_EXPECTED
            dof += 1
        return CheckResult(
            sketch.ref.name,
            self.name,
            stat,
            float(stats.chi2.sf(stat, dof)),
            details={"unseen": int(unseen)},
        )
