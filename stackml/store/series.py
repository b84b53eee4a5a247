"""Metric histories as NumPy columns, and their downsampling for charts.

A chart a thousand pixels wide cannot show a million points; sending them all wastes the
database, the network and the browser. :func:`downsample` keeps the points that shape the
line (MinMaxLTTB from ``tsdownsample``: per-bucket extremes, then Largest-Triangle-Three-
Buckets), so spikes survive. A zoomed chart asks again for its visible step range, where the
same budget of points is exact once the range holds fewer points than the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stackml.errors import InvalidInput
from stackml.store.entities import MetricPoint

#: Fewest points a downsampled series may ask for (MinMaxLTTB needs a few buckets).
MIN_POINTS = 4
#: Most points one chart request may ask for.
MAX_POINTS = 20_000


@dataclass(frozen=True)
class MetricArrays:
    """The points of one metric as parallel arrays, ordered by step then timestamp.

    Attributes:
        steps: int64 steps.
        timestamps: int64 milliseconds since the epoch.
        values: float64 values (NaN and infinities kept).
        total: points of the history in the requested range before any downsampling.
    """

    steps: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray
    total: int

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def empty(cls) -> MetricArrays:
        """A history without points."""
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64), 0)

    @classmethod
    def from_points(cls, points: Sequence[MetricPoint]) -> MetricArrays:
        """Columns of points already in history order."""
        return cls(
            np.fromiter((p.step for p in points), np.int64, len(points)),
            np.fromiter((p.timestamp for p in points), np.int64, len(points)),
            np.fromiter((p.value for p in points), np.float64, len(points)),
            len(points),
        )

    def take(self, index: np.ndarray) -> MetricArrays:
        """The points at ``index`` (keeps :attr:`total`)."""
        return MetricArrays(
            self.steps[index], self.timestamps[index], self.values[index], self.total
        )

    def in_steps(self, start_step: int | None, end_step: int | None) -> MetricArrays:
        """The points whose step lies in ``[start_step, end_step]`` (open ends allowed)."""
        if start_step is None and end_step is None:
            return self
        lo = 0 if start_step is None else int(np.searchsorted(self.steps, start_step, "left"))
        hi = len(self) if end_step is None else int(np.searchsorted(self.steps, end_step, "right"))
        part = slice(lo, max(lo, hi))
        return MetricArrays(
            self.steps[part], self.timestamps[part], self.values[part], max(0, hi - lo)
        )


def check_step_range(start_step: int | None, end_step: int | None) -> None:
    """Raise ``InvalidInput`` for a range whose start lies after its end."""
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidInput(f"start_step {start_step} is after end_step {end_step}")


def downsample(arrays: MetricArrays, max_points: int) -> MetricArrays:
    """At most about ``max_points`` points that keep the shape of the series.

    Non-finite values are dropped before downsampling (MinMaxLTTB needs numbers); a series
    already within budget is returned whole, NaN included, so a chart shows exact data.
    """
    if not MIN_POINTS <= max_points <= MAX_POINTS:
        raise InvalidInput(f"max_points must be between {MIN_POINTS} and {MAX_POINTS}")
    if len(arrays) <= max_points:
        return arrays
    finite = np.isfinite(arrays.values)
    if not finite.all():
        arrays = arrays.take(np.flatnonzero(finite))
        if len(arrays) <= max_points:
            return arrays
    from tsdownsample import MinMaxLTTBDownsampler

    # x must be strictly increasing for LTTB; equal steps (rare re-logs) fall back to position.
    steps = arrays.steps
    x = steps if len(steps) < 2 or bool((steps[1:] > steps[:-1]).all()) else None
    if x is None:
        index = MinMaxLTTBDownsampler().downsample(arrays.values, n_out=max_points)
    else:
        index = MinMaxLTTBDownsampler().downsample(x, arrays.values, n_out=max_points)
    return arrays.take(index)
