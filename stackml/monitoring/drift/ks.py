"""Two-sample Kolmogorov-Smirnov test against a reference sketch."""

from __future__ import annotations

import numpy as np
from scipy import stats

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.sketch import NumericSketch

#: Above this effective sample size the limiting Kolmogorov distribution is used: SciPy's
#: ``kstwo`` costs about half a second per value there, and the two agree closely.
LIMIT_EN = 10_000


def ks_p_value(d: float, n1: int, n2: int) -> float:
    """Two-sided p-value of ``d``: SciPy's ``ks_2samp(method="asymp")`` formula, or the
    limiting Kolmogorov distribution ``kstwobign`` when ``n1 n2 / (n1 + n2) > 10,000``."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    if en > LIMIT_EN:
        return float(np.clip(stats.kstwobign.sf(d * np.sqrt(en)), 0.0, 1.0))
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


class KSTest(DriftTest):
    """Largest distance between the reference and current empirical CDFs.

    On an exact reference the statistic equals ``scipy.stats.ks_2samp`` on the raw data and the
    p-value its ``method="asymp"`` (up to an effective size of 10,000, see
    :func:`ks_p_value`); on a binned reference the CDFs are compared at bin edges (a lower
    bound of the raw statistic).
    """

    name = "ks"
    has_p_value = True

    def compare(self, sketch: NumericSketch) -> CheckResult:
        nr, nc = sketch.n_ref, sketch.n_cur
        feature = sketch.ref.name
        if nr == 0 or nc == 0:
            return CheckResult(feature, self.name, 0.0, 1.0, details={"empty": True})
        fr = sketch.ref_le / nr
        right = np.abs(fr - sketch.cur_le / nc)
        # Just below each grid point the reference CDF still has its previous value.
        prev = np.concatenate(([0.0], fr[:-1]))
        left = np.abs(prev - sketch.cur_lt / nc)
        d = float(max(right.max(), left.max()))
        return CheckResult(feature, self.name, d, ks_p_value(d, nr, nc))
