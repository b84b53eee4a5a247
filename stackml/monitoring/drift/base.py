"""``DriftTest``: the extension point for comparing a current sample with its reference.

A drift test is a small class with a ``name``, the kinds of column it applies to and one
method, :meth:`DriftTest.compare`, that turns a sketch (the reference and the current column
placed on a shared grid, see :mod:`stackml.monitoring.sketch`) into a :class:`CheckResult`.

Tests with a p-value (``has_p_value``) decide drift by comparing the p-value, after the
monitor's multiple-testing correction, with ``alpha``; distance tests decide by
``statistic >= threshold``. Instances are immutable and safe to share between threads.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

__all__ = ["CheckResult", "DriftTest"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one test on one feature in one window."""

    feature: str
    test: str
    statistic: float
    p_value: float | None = None
    threshold: float | None = None
    drifted: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def with_decision(self, drifted: bool, **details: Any) -> CheckResult:
        """A copy with the drift decision (and extra details) set."""
        return replace(self, drifted=drifted, details={**self.details, **details})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "feature": self.feature,
            "test": self.test,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "details": self.details,
        }


class DriftTest(abc.ABC):
    """Compare one current column with its reference.

    Subclasses set ``name``, ``applies_to`` (``"numeric"``, ``"categorical"``) and
    ``has_p_value``, and implement :meth:`compare`. ``threshold`` is the distance at or above
    which a distance test reports drift (ignored by p-value tests, which use the monitor's
    ``alpha``).
    """

    name: ClassVar[str]
    applies_to: ClassVar[tuple[str, ...]] = ("numeric",)
    has_p_value: ClassVar[bool] = False
    default_threshold: ClassVar[float | None] = None

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = self.default_threshold if threshold is None else float(threshold)

    @abc.abstractmethod
    def compare(self, sketch: Any) -> CheckResult:
        """Compute the statistic (and p-value) of ``sketch``; set ``drifted`` for distances."""

    def _distance(self, feature: str, value: float, **details: Any) -> CheckResult:
        drifted = self.threshold is not None and value >= self.threshold
        return CheckResult(feature, self.name, float(value), None, self.threshold, drifted, details)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold!r})"
