"""Baselines and metric definitions in SQL (SQLite and PostgreSQL), and the safe expression."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.errors import InvalidInput, NotFound
from stackml.store.sql.store import SqlMetadataStore
from stackml.store.training_base import (
    MetricDefinition,
    evaluate_definition,
    parse_expression,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'training.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    with SqlMetadataStore(url) as opened:
        yield opened


def test_baselines_round_trip(store: SqlMetadataStore) -> None:
    b = store.set_baseline("digits", "human", kind="human", metrics={"acc": 0.98}, source="lab")
    assert b.metrics == {"acc": 0.98} and b.kind == "human" and b.created_at > 0
    store.set_baseline("digits", "majority", kind="internal", metrics={"acc": 0.1})
    store.set_baseline("digits", "human", kind="human", metrics={"acc": 0.99})  # replaces
    found = store.list_baselines("digits")
    assert [(x.name, x.metrics["acc"]) for x in found] == [("human", 0.99), ("majority", 0.1)]
    assert store.list_baselines("other") == []
    store.delete_baseline("digits", "majority")
    assert [x.name for x in store.list_baselines("digits")] == ["human"]
    with pytest.raises(NotFound):
        store.delete_baseline("digits", "majority")


@pytest.mark.parametrize(
    ("kind", "metrics"),
    [
        ("robot", {"acc": 1.0}),
        ("human", {}),
        ("human", {"acc": float("nan")}),
        ("human", {"acc": "high"}),
        ("human", {"bad key!": 1.0}),
    ],
)
def test_bad_baselines_are_refused(store: SqlMetadataStore, kind: str, metrics: dict) -> None:
    with pytest.raises(InvalidInput):
        store.set_baseline("digits", "b", kind=kind, metrics=metrics)
    with pytest.raises(InvalidInput):
        store.set_baseline("digits", "../etc", kind="human", metrics={"acc": 1.0})


def test_metric_definition_round_trip(store: SqlMetadataStore) -> None:
    with pytest.raises(NotFound):
        store.get_metric_definition("digits")
    spec = {"objective": "acc", "constraints": [{"metric": "p99_ms", "op": "<=", "value": 20}]}
    stored = store.set_metric_definition("digits", MetricDefinition("constrained", spec))
    assert stored.metrics == ("acc", "p99_ms") and stored.project == "digits"
    again = store.get_metric_definition("digits")
    assert again.spec["constraints"][0]["value"] == 20.0 and again.goal == "max"
    store.set_metric_definition(
        "digits", MetricDefinition("expression", {"expression": "acc - m('val/loss')"}, "max")
    )
    assert store.get_metric_definition("digits").kind == "expression"


@pytest.mark.parametrize(
    "definition",
    [
        MetricDefinition("weighted", {"weights": {}}),
        MetricDefinition("weighted", {"weights": {"a": 0}}),
        MetricDefinition("constrained", {"objective": "a", "constraints": [{"op": "~"}]}),
        MetricDefinition("expression", {"expression": "__import__('os').system('x')"}),
        MetricDefinition("expression", {"expression": "a ** 99999999"}),
        MetricDefinition("expression", {"expression": "a.b"}),
        MetricDefinition("expression", {"expression": "[a for a in b]"}),
        MetricDefinition("expression", {"expression": "x" * 600}),
        MetricDefinition("weighted", {"weights": {"a": 1}}, goal="up"),
        MetricDefinition("magic", {}),
    ],
)
def test_bad_definitions_are_refused(store: SqlMetadataStore, definition: MetricDefinition) -> None:
    with pytest.raises(InvalidInput):
        store.set_metric_definition("digits", definition)


def test_definitions_score_metrics() -> None:
    metrics = {"acc": 0.9, "f1": 0.6, "p99_ms": 25.0, "val/loss": 0.3}
    weighted = MetricDefinition("weighted", {"weights": {"acc": 2, "f1": 1}})
    assert evaluate_definition(weighted, metrics) == pytest.approx(0.8)
    cons = {"objective": "acc", "constraints": [{"metric": "p99_ms", "op": "<=", "value": 20}]}
    assert evaluate_definition(MetricDefinition("constrained", cons), metrics) is None
    cons["constraints"][0]["value"] = 30
    assert evaluate_definition(MetricDefinition("constrained", cons), metrics) == 0.9
    expr = MetricDefinition(
        "expression", {"expression": "acc - 0.01 * max(p99_ms - 20, 0) - m('val/loss') / 3"}
    )
    assert evaluate_definition(expr, metrics) == pytest.approx(0.9 - 0.05 - 0.1)
    assert evaluate_definition(expr, {"acc": 1.0}) is None  # a metric is missing
    div = MetricDefinition("expression", {"expression": "acc / (f1 - f1)"})
    assert evaluate_definition(div, metrics) is None
    assert parse_expression("-abs(a) + min(b, 2)")[1] == ("a", "b")
