"""Baselines and the project metric: score a run with one number, compare it to baselines.

::

    from stackml.training import scoring

    scoring.set_metric_definition("digits", weights={"test/accuracy": 1.0})
    scoring.score_run(run_id)                # one number (None if it cannot be scored)
    scoring.compute_internal_baselines("digits", x_train, y_train, x_test, y_test)
    scoring.baseline_deltas(run_id)          # {baseline: {metric: run - baseline}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stackml.errors import InvalidInput, NotFound
from stackml.store import Run
from stackml.store.training_base import Baseline, MetricDefinition, evaluate_definition
from stackml.tracking import get_run, get_store

__all__ = [
    "baseline_deltas",
    "compute_internal_baselines",
    "latest_metrics",
    "score_metrics",
    "score_run",
    "set_baseline",
    "set_metric_definition",
]


def latest_metrics(run: Run) -> dict[str, float]:
    """A run's latest value of each metric."""
    return {key: summary.latest for key, summary in run.metrics.items()}


def set_metric_definition(
    project: str,
    *,
    weights: Mapping[str, float] | None = None,
    objective: str | None = None,
    constraints: Sequence[Mapping[str, Any]] = (),
    expression: str | None = None,
    goal: str = "max",
    tracking_uri: str | None = None,
) -> MetricDefinition:
    """Set how ``project`` scores runs: give exactly one of ``weights``, ``objective`` (with
    ``constraints``) or ``expression`` (see :mod:`stackml.store.training_base`)."""
    given = [x is not None for x in (weights, objective, expression)]
    if sum(given) != 1:
        raise InvalidInput("give exactly one of weights, objective or expression")
    if weights is not None:
        definition = MetricDefinition("weighted", {"weights": dict(weights)}, goal)
    elif objective is not None:
        spec = {"objective": objective, "constraints": [dict(c) for c in constraints]}
        definition = MetricDefinition("constrained", spec, goal)
    else:
        definition = MetricDefinition("expression", {"expression": expression}, goal)
    return get_store(tracking_uri).metadata.set_metric_definition(project, definition)


def score_metrics(definition: MetricDefinition, metrics: Mapping[str, float]) -> float | None:
    """The single number of ``metrics`` under ``definition`` (``None``: not scorable)."""
    return evaluate_definition(definition, metrics)


def score_run(
    run_id: str, *, definition: MetricDefinition | None = None, tracking_uri: str | None = None
) -> float | None:
    """Score a run's latest metric values by its project's metric definition.

    Returns:
        The score, or ``None`` when a metric is missing or a constraint fails.

    Raises:
        NotFound: The run is unknown, or its project has no definition and none is given.
    """
    run = get_run(run_id, tracking_uri=tracking_uri)
    if definition is None:
        definition = get_store(tracking_uri).metadata.get_metric_definition(run.project)
    return evaluate_definition(definition, latest_metrics(run))


def set_baseline(
    project: str,
    name: str,
    metrics: Mapping[str, float],
    *,
    kind: str = "human",
    source: str = "",
    tracking_uri: str | None = None,
) -> Baseline:
    """Record a baseline by hand (``kind`` ``human`` or ``published``, with its ``source``)."""
    return get_store(tracking_uri).metadata.set_baseline(
        project, name, kind=kind, metrics=metrics, source=source
    )


def compute_internal_baselines(
    project: str,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    *,
    metric: str = "test/accuracy",
    tracking_uri: str | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Fit the majority class and a logistic regression on tabular (or flattened image) data
    and store their test accuracy as the project's ``majority`` and ``logistic_regression``
    baselines.

    Returns:
        ``{"majority": accuracy, "logistic_regression": accuracy}``.
    """
    import numpy as np
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(x_train) == 0 or len(x_test) == 0:
        raise InvalidInput("baselines need non-empty train and test sets")
    xtr = np.asarray(x_train, dtype=float).reshape(len(x_train), -1)
    xte = np.asarray(x_test, dtype=float).reshape(len(x_test), -1)
    ytr, yte = np.asarray(y_train), np.asarray(y_test)
    models = {
        "majority": DummyClassifier(strategy="most_frequent"),
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=500, random_state=seed)
        ),
    }
    store = get_store(tracking_uri).metadata
    scores: dict[str, float] = {}
    for name, model in models.items():
        model.fit(xtr, ytr)
        scores[name] = float((model.predict(xte) == yte).mean())
        store.set_baseline(
            project,
            name,
            kind="internal",
            metrics={metric: scores[name]},
            source=f"scikit-learn {type(model).__name__} on {len(xtr)} training rows",
        )
    return scores


def baseline_deltas(run_id: str, *, tracking_uri: str | None = None) -> dict[str, dict[str, float]]:
    """For each baseline of the run's project: run metric minus baseline metric, for the
    metrics both have."""
    run = get_run(run_id, tracking_uri=tracking_uri)
    latest = latest_metrics(run)
    try:
        baselines = get_store(tracking_uri).metadata.list_baselines(run.project)
    except NotFound:
        return {}
    return {
        b.name: {k: latest[k] - v for k, v in b.metrics.items() if k in latest} for b in baselines
    }
