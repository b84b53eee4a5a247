"""Jensen-Shannon distance."""

from __future__ import annotations

from scipy.spatial import distance

from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.drift.psi import bins_of
from stackml.monitoring.sketch import CategoricalSketch, NumericSketch


class JensenShannonTest(DriftTest):
    """``scipy.spatial.distance.jensenshannon`` (natural log) of the binned distributions."""

    name = "jensen_shannon"
    applies_to = ("numeric", "categorical")
    default_threshold = 0.1

    def compare(self, sketch: NumericSketch | CategoricalSketch) -> CheckResult:
        ref, cur = bins_of(sketch)
        if ref.sum() == 0 or cur.sum() == 0:
            return self._distance(sketch.ref.name, 0.0)
        return self._distance(sketch.ref.name, float(distance.jensenshannon(ref, cur)))
