"""Internal baselines, baseline deltas and scoring runs by the project's metric definition."""

from __future__ import annotations

import numpy as np
import pytest

import stackml
from stackml.errors import InvalidInput, NotFound
from stackml.training import scoring


def test_internal_baselines_deltas_and_scores() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = (x[:, 0] > 0.5).astype(int)  # about 70 % zeros: the majority class is 0
    found = scoring.compute_internal_baselines("tab", x[:150], y[:150], x[150:], y[150:])
    assert 0.5 < found["majority"] < found["logistic_regression"] <= 1.0
    with stackml.start_run(project="tab", capture_environment=False) as run:
        run.log_metrics({"test/accuracy": 0.9, "latency_ms": 30.0})
    deltas = scoring.baseline_deltas(run.id)
    assert deltas["majority"]["test/accuracy"] == pytest.approx(0.9 - found["majority"])
    scoring.set_baseline("tab", "human", {"test/accuracy": 0.95}, source="survey")
    assert scoring.baseline_deltas(run.id)["human"]["test/accuracy"] == pytest.approx(-0.05)

    with pytest.raises(NotFound):
        scoring.score_run(run.id)
    scoring.set_metric_definition("tab", weights={"test/accuracy": 1.0})
    assert scoring.score_run(run.id) == pytest.approx(0.9)
    scoring.set_metric_definition(
        "tab",
        objective="test/accuracy",
        constraints=[{"metric": "latency_ms", "op": "<=", "value": 20}],
    )
    assert scoring.score_run(run.id) is None  # the latency constraint fails
    scoring.set_metric_definition(
        "tab", expression="m('test/accuracy') - 0.01 * max(latency_ms - 20, 0)"
    )
    assert scoring.score_run(run.id) == pytest.approx(0.8)


def test_bad_requests_are_refused() -> None:
    with pytest.raises(InvalidInput):
        scoring.set_metric_definition("tab")
    with pytest.raises(InvalidInput):
        scoring.set_metric_definition("tab", weights={"a": 1}, expression="a")
    with pytest.raises(InvalidInput):
        scoring.compute_internal_baselines("tab", [], [], [], [])
