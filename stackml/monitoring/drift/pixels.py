"""Drift of image pixel statistics: per-image brightness and contrast, and channel means."""

from __future__ import annotations

import numpy as np

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.drift.ks import KSTest
from stackml.monitoring.reference import ImageReference
from stackml.monitoring.sketch import sketch_numeric


class PixelStatsTest(DriftTest):
    """Kolmogorov-Smirnov on per-image brightness (mean pixel) and contrast (pixel std).

    The statistic is the larger KS distance; the p-value the smaller of the two, Bonferroni
    corrected. Without reference histograms (a dataset schema keeps only channel means and
    standard deviations) the statistic is the largest channel-mean shift in reference standard
    deviations, a distance test with threshold 0.25.
    """

    name = "pixel_stats"
    applies_to = ("image",)
    has_p_value = True
    default_threshold = 0.25

    def compare(self, sketch: tuple[ImageReference, np.ndarray]) -> CheckResult:
        ref, images = sketch
        arr = np.asarray(images, dtype=np.float64)
        flat = arr.reshape(arr.shape[0], -1)
        channels = arr.reshape(-1, arr.shape[3] if arr.ndim == 4 else 1)
        mean = channels.mean(axis=0)
        std = np.maximum(np.asarray(ref.channel_std), 1e-12)
        shift = float(np.max(np.abs(mean - np.asarray(ref.channel_mean)) / std))
        details = {"channel_mean": mean.tolist(), "mean_shift_sd": shift}
        if ref.brightness is None or ref.contrast is None:
            return self._distance("image", shift, **details)
        ks = KSTest()
        bright = ks.compare(sketch_numeric(ref.brightness, flat.mean(axis=1)))
        contrast = ks.compare(sketch_numeric(ref.contrast, flat.std(axis=1)))
        pb = 1.0 if bright.p_value is None else bright.p_value
        pc = 1.0 if contrast.p_value is None else contrast.p_value
        p = min(1.0, 2 * min(pb, pc))
        details.update(brightness_ks=bright.statistic, contrast_ks=contrast.statistic)
        stat = max(bright.statistic, contrast.statistic)
        return CheckResult("image", self.name, stat, p, None, False, details)
