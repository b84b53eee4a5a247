"""Multiple-testing correction of the p-values of one window's feature tests.

Testing 20 independent features at ``alpha = 0.05`` raises at least one false alarm in 64% of
windows without drift. ``bonferroni`` controls the family-wise error rate (any false alarm at
most ``alpha``); ``bh`` (Benjamini-Hochberg) controls the false discovery rate and keeps more
power when several features really drift; ``none`` tests each feature alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stackml.errors import InvalidInput

__all__ = ["CORRECTIONS", "adjust"]

CORRECTIONS = ("bh", "bonferroni", "none")


def adjust(p_values: Sequence[float], method: str = "bh") -> np.ndarray:
    """Adjusted p-values (compare them with ``alpha``), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    if method not in CORRECTIONS:
        raise InvalidInput(f"unknown correction {method!r}; use one of {CORRECTIONS}")
    m = p.size
    if m == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return out
