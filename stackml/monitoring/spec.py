"""A monitor's definition: what to compare, how to window, when to alert, what to route.

Everything is a frozen dataclass that round-trips through plain JSON (:meth:`MonitorSpec.to_dict`
and :meth:`MonitorSpec.from_dict`), which is how the metadata store keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.monitoring.correction import CORRECTIONS

__all__ = ["AlertRule", "MonitorSpec", "RetrainSpec", "RoutingSpec", "WindowSpec"]

OPERATORS = (">", ">=", "<", "<=")
WINDOW_KINDS = ("time", "count")


@dataclass(frozen=True)
class WindowSpec:
    """Windows over prediction logs: ``time`` (``size`` milliseconds) or ``count`` (rows)."""

    kind: str = "count"
    size: int = 1000

    def __post_init__(self) -> None:
        if self.kind not in WINDOW_KINDS:
            raise InvalidInput(f"window kind must be one of {WINDOW_KINDS}, not {self.kind!r}")
        if not isinstance(self.size, int) or self.size < 1:
            raise InvalidInput("window size must be a positive integer")


@dataclass(frozen=True)
class AlertRule:
    """Fire when ``statistic op threshold`` held for ``duration`` consecutive windows.

    ``statistic`` is a key of a window's flat statistics (``drift_share``,
    ``drift.alcohol.ks``, ``performance.accuracy``, ``operational.latency_p95`` …; see the
    monitoring guide). After firing, the rule stays quiet for ``cooldown_s`` seconds.
    """

    name: str
    statistic: str
    op: str = ">"
    threshold: float = 0.0
    duration: int = 1
    cooldown_s: int = 0
    severity: str = "warning"

    def __post_init__(self) -> None:
        try:
            validate_name(self.name, what="alert rule name")
        except InvalidName as exc:
            raise InvalidInput(str(exc)) from exc
        if self.op not in OPERATORS:
            raise InvalidInput(f"alert operator must be one of {OPERATORS}, not {self.op!r}")
        if self.duration < 1 or self.cooldown_s < 0:
            raise InvalidInput("alert duration must be >= 1 and cooldown >= 0")

    def breached(self, value: float | None) -> bool:
        """Whether ``value`` is on the alerting side of the threshold."""
        if value is None:
            return False
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t}[self.op]


@dataclass(frozen=True)
class RoutingSpec:
    """Which predictions go to the labeling queue, and how many.

    ``confidence_below``: route predictions less confident than this; ``drifted_slices``:
    route rows whose drifted features fall where the current data is over-represented against
    the reference; ``canary_disagreement``: route requests whose canary or shadow prediction
    differs from the primary one; ``flagged``: route requests flagged through feedback.
    ``budget`` caps routed items per run; duplicates (by request id) are never routed twice.
    """

    project: str = ""
    confidence_below: float | None = 0.6
    drifted_slices: bool = True
    canary_disagreement: bool = True
    flagged: bool = True
    budget: int = 100
    #: Pixel range of routed images in their PNG (``[0, 16]`` for the digits); ``None``
    #: stretches each image to its own min..max.
    image_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class RetrainSpec:
    """The pipeline run when the label queue's export becomes a new dataset version."""

    pipeline: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MonitorSpec:
    """How a deployment is monitored."""

    deployment: str
    reference: str = ""
    features: tuple[str, ...] = ()
    numeric_tests: tuple[str, ...] = ("ks", "wasserstein")
    categorical_tests: tuple[str, ...] = ("chi2", "psi", "jensen_shannon")
    thresholds: dict[str, float] = field(default_factory=dict)
    alpha: float = 0.05
    correction: str = "bh"
    drift_share: float = 0.5
    window: WindowSpec = field(default_factory=WindowSpec)
    slices: tuple[str, ...] = ()
    rules: tuple[AlertRule, ...] = ()
    notifiers: tuple[dict[str, Any], ...] = ()
    routing: RoutingSpec | None = None
    retrain: RetrainSpec | None = None
    schedule_s: int = 0

    def __post_init__(self) -> None:
        if self.correction not in CORRECTIONS:
            raise InvalidInput(f"correction must be one of {CORRECTIONS}")
        if not 0 < self.alpha < 1 or not 0 < self.drift_share <= 1:
            raise InvalidInput("alpha must be in (0, 1) and drift_share in (0, 1]")
        if not self.numeric_tests and not self.categorical_tests:
            raise InvalidInput("a monitor needs at least one drift test")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorSpec:
        """Rebuild (and validate) from :meth:`to_dict` output or hand-written JSON."""
        d = dict(data)
        try:
            d["window"] = WindowSpec(**d.get("window", {}))
            d["rules"] = tuple(AlertRule(**r) for r in d.get("rules", ()))
            if d.get("routing"):
                routing = dict(d["routing"])
                if routing.get("image_range") is not None:
                    routing["image_range"] = tuple(float(v) for v in routing["image_range"])
                d["routing"] = RoutingSpec(**routing)
            else:
                d["routing"] = None
            d["retrain"] = RetrainSpec(**d["retrain"]) if d.get("retrain") else None
            for key in ("features", "numeric_tests", "categorical_tests", "slices"):
                d[key] = tuple(_strings(d.get(key, getattr(cls, key, ())), key))
            d["notifiers"] = tuple(dict(n) for n in d.get("notifiers", ()))
            return cls(**d)
        except TypeError as error:
            raise InvalidInput(f"invalid monitor definition: {error}") from error


def _strings(values: Any, what: str) -> Sequence[str]:
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{what} must be a list of strings")
    return values
