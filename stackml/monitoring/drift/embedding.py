"""Embedding drift: maximum mean discrepancy with an RBF kernel and a permutation test."""

from __future__ import annotations

import numpy as np

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.reference import EmbeddingReference


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def mmd2(kernel: np.ndarray, n: int) -> float:
    """Biased squared MMD of a pooled kernel matrix whose first ``n`` rows are sample one."""
    return float(kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean())


class MMDTest(DriftTest):
    """Squared MMD between reference and current embeddings, p-value by permutation.

    The RBF bandwidth is the median pairwise distance of the pooled sample. At most
    ``max_samples`` current rows are used (drawn with a fixed seed), so the cost is bounded.
    """

    name = "mmd"
    applies_to = ("embedding",)
    has_p_value = True

    def __init__(
        self,
        threshold: float | None = None,
        *,
        permutations: int = 200,
        max_samples: int = 300,
        seed: int = 0,
    ) -> None:
        super().__init__(threshold)
        self.permutations = permutations
        self.max_samples = max_samples
        self.seed = seed

    def compare(self, sketch: tuple[EmbeddingReference, np.ndarray]) -> CheckResult:
        ref, current = sketch
        rng = np.random.default_rng(self.seed)
        x = np.asarray(ref.sample, dtype=np.float64)
        y = np.asarray(current, dtype=np.float64).reshape(len(current), -1)
        if y.shape[0] > self.max_samples:
            y = y[rng.choice(y.shape[0], self.max_samples, replace=False)]
        if y.shape[0] < 2:
            return CheckResult("embedding", self.name, 0.0, 1.0)
        pooled = np.concatenate([x, y])
        d2 = _sq_dists(pooled, pooled)
        bandwidth = float(np.median(d2[np.triu_indices_from(d2, k=1)])) or 1.0
        kernel = np.exp(-d2 / bandwidth)
        n = x.shape[0]
        observed = mmd2(kernel, n)
        total = pooled.shape[0]
        # Biased MMD^2 is s' K s with s = 1/n on sample one and -1/m on sample two, so all
        # permutations are one matrix product.
        labels = np.stack([rng.permutation(total) < n for _ in range(self.permutations)], axis=1)
        weights = np.where(labels, 1.0 / n, -1.0 / (total - n))
        permuted = np.einsum("ip,ip->p", kernel @ weights, weights)
        p = float((np.sum(permuted >= observed - 1e-12) + 1) / (self.permutations + 1))
        return CheckResult(
            "embedding", self.name, observed, p, details={"n_current": int(y.shape[0])}
        )
