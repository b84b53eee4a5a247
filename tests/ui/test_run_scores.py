"""The runs table's score column: project metric score and delta to the best baseline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stackml.server import create_app
from stackml.store import Store, open_store
from stackml.store.base import MetadataStore
from stackml.store.entities import MetricPoint
from stackml.store.training_base import MetricDefinition
from stackml.ui.runs_table import RunsQuery, build_runs_table
from tests.server.conftest import LiveServer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "scores"))
    meta = opened.metadata
    meta.set_metric_definition("digits", MetricDefinition("weighted", {"weights": {"acc": 1.0}}))
    meta.set_baseline("digits", "majority", kind="internal", metrics={"acc": 0.1})
    meta.set_baseline("digits", "logreg", kind="internal", metrics={"acc": 0.9})
    meta.set_baseline("digits", "other-metric", kind="published", metrics={"f1": 0.99})
    for name, acc in (("good", 0.95), ("poor", 0.5), ("unscored", None)):
        run = meta.create_run("digits", name=name)
        if acc is not None:
            meta.log_metrics(run.id, [MetricPoint("acc", acc, 0, 1)])
    plain = meta.create_run("plain", name="no-definition")
    meta.log_metrics(plain.id, [MetricPoint("acc", 0.7, 0, 1)])
    yield opened
    opened.close()


class CountingStore:
    """A real store that counts the calls the score column makes."""

    def __init__(self, inner: MetadataStore) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name in ("get_metric_definition", "list_baselines"):
            self.calls[name] = self.calls.get(name, 0) + 1
        return attr


def test_scores_and_deltas_to_the_best_baseline(store: Store) -> None:
    counting = CountingStore(store.metadata)
    table = build_runs_table(counting, RunsQuery())  # type: ignore[arg-type]
    by_name = {run.name: table.scores.get(run.id) for run in table.runs}
    good, poor = by_name["good"], by_name["poor"]
    assert good is not None and poor is not None
    assert good.baseline == "logreg" and good.score == pytest.approx(0.95)
    assert good.delta == pytest.approx(0.05) and good.better is True
    assert poor.delta == pytest.approx(-0.4) and poor.better is False
    unscored = by_name["unscored"]
    assert unscored is not None and unscored.score is None and unscored.delta is None
    assert by_name["no-definition"] is None
    # Once per project on the page, not once per run.
    assert counting.calls == {"get_metric_definition": 2, "list_baselines": 1}


def test_minimised_definition_and_no_scorable_baseline(store: Store) -> None:
    meta = store.metadata
    meta.set_metric_definition(
        "digits", MetricDefinition("weighted", {"weights": {"acc": 1.0}}, goal="min")
    )
    table = build_runs_table(meta, RunsQuery(project="digits"))
    good = next(table.scores[r.id] for r in table.runs if r.name == "good")
    assert good.baseline == "majority" and good.better is False
    meta.set_metric_definition("digits", MetricDefinition("weighted", {"weights": {"loss": 1.0}}))
    table = build_runs_table(meta, RunsQuery(project="digits"))
    assert all(s.score is None and s.baseline is None for s in table.scores.values())


def test_score_column_in_the_page(store: Store) -> None:
    live = LiveServer(create_app(store)).start()
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            html = client.get("/runs", params={"project": "digits"}).text
            assert 'class="num col-score"' in html
            cells = re.findall(r'<td class="num mono cell-score">(.*?)</td>', html)
            assert len(cells) == 3
            joined = " ".join(cells)
            assert "+0.0500" in joined and "-0.4000" in joined and "delta-good" in joined
            assert "vs baseline logreg" in joined
            plain = client.get("/runs", params={"project": "plain"}).text
            assert "col-score" not in plain and "cell-score" not in plain
    finally:
        live.stop()
