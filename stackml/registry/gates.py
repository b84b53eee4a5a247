"""Promotion gates: checks a model version must pass before an alias (``production``) moves to it.

A **gate** is a callable ``gate(store, version) -> GateResult``: ``store`` is the
:class:`~stackml.store.Store` (metadata and blobs) and ``version`` the
:class:`~stackml.store.registry_base.ModelVersion` being promoted. Gates are registered by
name::

    from stackml.registry.gates import GateResult, register_gate

    def has_description(store, version):
        ok = bool(version.description)
        return GateResult(ok, [] if ok else ["the version has no description"])

    register_gate("has-description", has_description)

Which gates guard an alias is configured per registered model
(:func:`stackml.registry.set_gates`), as a list of **gate specs**: a registered name
(``"has-description"``, ``"ml-test-score"``) or ``name:argument`` for gates built by a factory.
The built-in ``metric`` factory takes a threshold on the version's metrics snapshot:
``"metric:test_accuracy>=0.95"``, ``"metric:latency_ms<=20"``.

A name nobody registered makes the gate fail (fail closed); before saying so, the lookup
imports :mod:`stackml.checks` once, whose ML Test Score gate registers itself as
``"ml-test-score"`` on import.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import operator
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stackml.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.registry_base import ModelVersion

__all__ = [
    "Gate",
    "GateFailed",
    "GateResult",
    "MetricThreshold",
    "get_gate",
    "register_gate",
    "register_gate_factory",
    "registered_gates",
    "run_gates",
]


@dataclass(frozen=True)
class GateResult:
    """A gate's answer: whether the version passed, why not, and any numbers worth keeping."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, stored in the alias move's audit record (odd values as text)."""
        return {
            "passed": bool(self.passed),
            "reasons": [str(r) for r in self.reasons],
            "details": _plain(self.details),
        }


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: non-finite floats become ``None``, unknown objects text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    try:
        return _plain(float(value))  # NumPy scalars
    except (TypeError, ValueError):
        return str(value)


Gate = Callable[["Store", "ModelVersion"], GateResult]
GateFactory = Callable[[str], Gate]


class GateFailed(Conflict):
    """A promotion was refused because a gate did not pass; ``results`` has every answer."""

    def __init__(self, message: str, results: dict[str, GateResult]) -> None:
        super().__init__(message)
        self.results = results


_LOCK = threading.Lock()
_GATES: dict[str, Gate] = {}
_FACTORIES: dict[str, GateFactory] = {}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PLUGINS = ("stackml.checks",)
_plugins_loaded = False


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"invalid gate name {name!r}: use lowercase letters, digits, '.-_'")
    return name


def register_gate(name: str, gate: Gate) -> None:
    """Register (or replace) the gate called ``name``."""
    if not callable(gate):
        raise InvalidInput(f"gate {name!r} must be callable as gate(store, version)")
    with _LOCK:
        _GATES[_check_name(name)] = gate


def register_gate_factory(name: str, factory: GateFactory) -> None:
    """Register a factory: the spec ``name:argument`` builds a gate with ``factory(argument)``."""
    with _LOCK:
        _FACTORIES[_check_name(name)] = factory


def registered_gates() -> list[str]:
    """Names of the registered gates and gate factories (``name:``), sorted."""
    with _LOCK:
        return sorted([*_GATES, *(f"{n}:" for n in _FACTORIES)])


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in _PLUGINS:
        # An optional package that is absent (or broken) must not break promotion; its gate
        # simply stays unknown, and unknown gates fail.
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def get_gate(spec: str) -> Gate | None:
    """The gate a spec names, or ``None`` when nobody registered it."""
    name, sep, argument = str(spec).partition(":")
    for attempt in range(2):
        with _LOCK:
            if sep and name in _FACTORIES:
                return _FACTORIES[name](argument)
            if not sep and name in _GATES:
                return _GATES[name]
        if attempt == 0:
            _load_plugins()
    return None


def run_gates(store: Store, version: ModelVersion, specs: Sequence[str]) -> dict[str, GateResult]:
    """Every gate's answer for ``version``, by spec. A gate that raises fails with its error."""
    results: dict[str, GateResult] = {}
    for spec in specs:
        try:
            gate = get_gate(spec)
        except InvalidInput as error:
            results[spec] = GateResult(False, [f"malformed gate {spec!r}: {error}"])
            continue
        if gate is None:
            known = ", ".join(registered_gates()) or "none"
            results[spec] = GateResult(
                False, [f"no gate called {spec!r} is registered (known: {known})"]
            )
            continue
        try:
            result = gate(store, version)
        except Exception as error:  # a broken gate must refuse, never wave a version through
            result = GateResult(False, [f"gate {spec!r} raised {type(error).__name__}: {error}"])
        if not isinstance(result, GateResult):
            result = GateResult(False, [f"gate {spec!r} returned {type(result).__name__}"])
        results[spec] = result
    return results


_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_THRESHOLD = re.compile(r"^\s*([\w./:-]+)\s*(>=|<=|>|<)\s*(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class MetricThreshold:
    """Gate: a metric of the version's snapshot must satisfy ``metric OP value``.

    A missing or non-finite metric fails the gate.
    """

    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> MetricThreshold:
        """From ``"test_accuracy>=0.95"``. Raises ``InvalidInput``."""
        match = _THRESHOLD.fullmatch(text or "")
        if match is None:
            raise InvalidInput(
                f"metric gate {text!r} must read METRIC OP NUMBER, e.g. 'test_accuracy>=0.95'"
            )
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def __call__(self, store: Store, version: ModelVersion) -> GateResult:
        value = version.metrics.get(self.metric)
        details = {"metric": self.metric, "threshold": f"{self.op} {self.value:g}", "value": value}
        if value is None:
            return GateResult(
                False, [f"{version.ref} has no metric {self.metric!r} in its snapshot"], details
            )
        if _OPERATORS[self.op](value, self.value):
            return GateResult(True, [], details)
        return GateResult(
            False, [f"{self.metric} = {value:.6g}, needs {self.op} {self.value:g}"], details
        )


register_gate_factory("metric", MetricThreshold.parse)
