"""Drift tests, one small :class:`DriftTest` class per module, and a registry by name."""

from __future__ import annotations

from stackml.errors import InvalidInput
from stackml.monitoring.drift.base import CheckResult, DriftTest
from stackml.monitoring.drift.chisquare import ChiSquareTest
from stackml.monitoring.drift.embedding import MMDTest
from stackml.monitoring.drift.jensen_shannon import JensenShannonTest
from stackml.monitoring.drift.ks import KSTest
from stackml.monitoring.drift.pixels import PixelStatsTest
from stackml.monitoring.drift.psi import PSITest
from stackml.monitoring.drift.wasserstein import WassersteinTest

__all__ = [
    "TESTS",
    "CheckResult",
    "ChiSquareTest",
    "DriftTest",
    "JensenShannonTest",
    "KSTest",
    "MMDTest",
    "PSITest",
    "PixelStatsTest",
    "WassersteinTest",
    "make_test",
    "register_test",
]

#: Drift test classes by name.
TESTS: dict[str, type[DriftTest]] = {
    cls.name: cls
    for cls in (
        KSTest,
        WassersteinTest,
        ChiSquareTest,
        PSITest,
        JensenShannonTest,
        PixelStatsTest,
        MMDTest,
    )
}


def register_test(cls: type[DriftTest]) -> type[DriftTest]:
    """Make a custom :class:`DriftTest` usable by name in monitor definitions."""
    TESTS[cls.name] = cls
    return cls


def make_test(name: str, threshold: float | None = None) -> DriftTest:
    """An instance of the test called ``name``. Raises ``InvalidInput`` for unknown names."""
    try:
        return TESTS[name](threshold)
    except KeyError:
        raise InvalidInput(f"unknown drift test {name!r}; known: {sorted(TESTS)}") from None
