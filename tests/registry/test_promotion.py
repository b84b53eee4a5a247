"""Promotion through gates, rollback, aliases and the audit trail."""

from __future__ import annotations

import sys

import pytest

from stackml.errors import Conflict, InvalidInput
from stackml.registry import (
    GateFailed,
    GateResult,
    MetricThreshold,
    alias_history,
    promote,
    register,
    register_gate,
    rollback,
    set_alias,
    set_gates,
)
from stackml.registry import gates as gates_module
from stackml.store import Store
from tests.registry.conftest import logged_run


def _versions(store: Store, *accuracies: float) -> None:
    for acc in accuracies:
        run_id = logged_run(store, metrics={"accuracy": acc})
        register("iris", run_id=run_id, artifact_path="model", store=store)


def test_metric_gate_guards_production(store: Store) -> None:
    _versions(store, 0.80, 0.95)
    set_gates("iris", ["metric:accuracy>=0.9"], store=store)
    with pytest.raises(GateFailed, match=r"accuracy = 0\.8, needs >= 0\.9") as failure:
        promote("iris@1", reason="try", author="ada", store=store)
    assert not failure.value.results["metric:accuracy>=0.9"].passed
    assert alias_history("iris", store=store) == []
    event = promote("iris@2", reason="best accuracy", author="ada", store=store)
    assert (event.version, event.action, event.author, event.reason) == (
        2,
        "promote",
        "ada",
        "best accuracy",
    )
    assert event.gates["metric:accuracy>=0.9"]["passed"] is True
    assert event.gates["metric:accuracy>=0.9"]["details"]["value"] == 0.95


def test_forced_promotion_needs_a_reason_and_is_recorded(store: Store) -> None:
    _versions(store, 0.5)
    set_gates("iris", ["metric:accuracy>=0.9"], store=store)
    with pytest.raises(InvalidInput, match="reason"):
        promote("iris@1", force=True, store=store)
    event = promote(
        "iris@1", force=True, reason="hotfix approved by on-call", author="bob", store=store
    )
    assert event.gates["forced"] is True
    assert event.gates["metric:accuracy>=0.9"]["passed"] is False


def test_unknown_and_broken_gates_fail_closed(store: Store) -> None:
    _versions(store, 0.99)

    def broken(store: object, version: object) -> GateResult:
        raise RuntimeError("boom")

    register_gate("always-broken", broken)
    set_gates("iris", ["no-such-gate", "always-broken", "metric:bad spec"], store=store)
    with pytest.raises(GateFailed) as failure:
        promote("iris@1", store=store)
    results = failure.value.results
    assert "no gate called 'no-such-gate'" in results["no-such-gate"].reasons[0]
    assert "RuntimeError: boom" in results["always-broken"].reasons[0]
    assert not results["metric:bad spec"].passed


def test_custom_gate_sees_the_version(store: Store) -> None:
    _versions(store, 0.9)
    seen = []

    def needs_description(store: object, version: object) -> GateResult:
        seen.append(version)
        ok = bool(getattr(version, "description", ""))
        return GateResult(ok, [] if ok else ["no description"])

    register_gate("needs-description", needs_description)
    set_gates("iris", ["needs-description"], alias="champion", store=store)
    with pytest.raises(GateFailed, match="no description"):
        promote("iris@1", alias="champion", store=store)
    assert seen[0].ref == "iris@1"
    with pytest.raises(Conflict, match="guarded by gates"):
        set_alias("iris@1", "champion", store=store)
    promote("iris@1", store=store)  # production has no gates configured here


def test_ml_test_score_gate_is_looked_up_lazily(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = "tests.registry.fake_checks"
    monkeypatch.setattr(gates_module, "_plugins_loaded", False)
    monkeypatch.setattr(gates_module, "_PLUGINS", (plugin,))
    monkeypatch.delitem(gates_module._GATES, "ml-test-score", raising=False)
    monkeypatch.delitem(sys.modules, plugin, raising=False)
    _versions(store, 0.9)
    set_gates("iris", ["ml-test-score"], store=store)
    event = promote("iris@1", store=store)
    assert plugin in sys.modules
    assert event.gates["ml-test-score"]["details"] == {"score": 7}
    monkeypatch.delitem(gates_module._GATES, "ml-test-score")


def test_rollback_goes_back_and_is_audited(store: Store) -> None:
    _versions(store, 0.9, 0.91, 0.92)
    with pytest.raises(Conflict):
        rollback("iris", store=store)
    promote("iris@1", reason="first", author="ada", store=store)
    promote("iris@3", reason="newest", author="ada", store=store)
    back = rollback("iris", reason="latency regression", author="bob", store=store)
    assert (back.version, back.previous, back.action, back.author) == (1, 3, "rollback", "bob")
    assert store.metadata.get_model_alias("iris", "production") == 1
    explicit = rollback("iris", to=2, reason="try 2", store=store)
    assert explicit.version == 2
    history = alias_history("iris", "production", store=store)
    assert [(e.action, e.version, e.reason) for e in history] == [
        ("promote", 1, "first"),
        ("promote", 3, "newest"),
        ("rollback", 1, "latency regression"),
        ("rollback", 2, "try 2"),
    ]


def test_metric_threshold_parsing() -> None:
    gate = MetricThreshold.parse("val/loss <= 0.25")
    assert (gate.metric, gate.op, gate.value) == ("val/loss", "<=", 0.25)
    for bad in ("", "acc", "acc >= x", "acc == 1"):
        with pytest.raises(InvalidInput):
            MetricThreshold.parse(bad)


def test_gate_details_are_stored_as_plain_json(store: Store) -> None:
    import numpy as np

    _versions(store, 0.9)
    register_gate(
        "odd-details",
        lambda s, v: GateResult(
            True, [], {"nan": float("nan"), "np": np.float32(0.5), "obj": object(), "t": (1, 2)}
        ),
    )
    set_gates("iris", ["odd-details"], store=store)
    details = promote("iris@1", store=store).gates["odd-details"]["details"]
    assert details["nan"] is None and details["np"] == 0.5 and details["t"] == [1, 2]
    assert details["obj"].startswith("<object")
