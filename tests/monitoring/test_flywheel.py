"""Routing rules, embedding and prediction drift, retraining trigger and the scheduler."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from stackml.errors import InvalidInput
from stackml.monitoring import (
    CategoricalReference,
    EmbeddingReference,
    MMDTest,
    MonitorSpec,
    Reference,
    RoutingSpec,
    create_monitor,
    evaluate_window,
    select_candidates,
    trigger_retraining,
)
from stackml.monitoring.scheduler import MonitorScheduler, due_monitors
from stackml.store import Store
from tests.monitoring.conftest import log_table, write_logs


def test_canary_disagreement_and_flags_are_routed_first() -> None:
    table = log_table(
        n=6,
        request_ids=["a", "a", "b", "b", "c", "d"],
        variant=["primary", "canary", "primary", "shadow", "primary", "primary"],
        predictions=["1", "2", "1", "1", "1", "1"],
        confidence=[0.99, 0.99, 0.99, 0.2, 0.3, 0.95],
    )
    report = evaluate_window(table, Reference(), MonitorSpec("d"))
    found = select_candidates(
        table, report, Reference(), RoutingSpec(confidence_below=0.5), flagged=["d"]
    )
    assert [(c.request_id, c.reason) for c in found] == [
        ("d", "flagged"),
        ("a", "canary_disagreement"),
        ("c", "low_confidence"),
    ]  # "b" agrees; its shadow's low confidence is not a served answer


def test_drifted_slice_routes_rows_where_current_data_is_over_represented() -> None:
    rng = np.random.default_rng(0)
    ref = Reference.from_table(pa.table({"a": rng.normal(0, 1, 5000)}))
    values = np.concatenate([rng.normal(0, 1, 300), rng.normal(4, 0.2, 100)])
    table = log_table({"a": values}, confidence=[0.99] * 400)
    report = evaluate_window(table, ref, MonitorSpec("d"))
    assert report.drifted_features == ("a",)
    found = select_candidates(table, report, ref, RoutingSpec(confidence_below=None))
    rows = {c.row for c in found if c.reason == "drifted_slice"}
    assert set(range(300, 400)) <= rows and len(rows) < 200


def test_mmd_separates_shifted_embeddings_and_keeps_same_ones() -> None:
    rng = np.random.default_rng(1)
    ref = EmbeddingReference.from_embeddings(rng.normal(size=(500, 16)))
    assert ref.sample.shape == (300, 16)
    same = MMDTest().compare((ref, rng.normal(size=(300, 16))))
    moved = MMDTest().compare((ref, rng.normal(0.4, 1.0, size=(300, 16))))
    assert same.p_value > 0.05 and moved.p_value < 0.01 and moved.statistic > same.statistic


def test_prediction_and_embedding_drift_in_a_window() -> None:
    rng = np.random.default_rng(2)
    ref = Reference(
        predictions=CategoricalReference("prediction", {"0": 500, "1": 500}),
        embeddings=EmbeddingReference.from_embeddings(rng.normal(size=(400, 8))),
    )
    table = log_table(n=400, predictions=["0"] * 350 + ["1"] * 50)
    report = evaluate_window(
        table, ref, MonitorSpec("d"), embeddings=rng.normal(1.0, size=(400, 8))
    )
    assert report.stats["prediction.drifted"] == 1.0 and report.stats["embedding.drifted"] == 1.0


def test_trigger_retraining_runs_the_pipeline_with_lineage(store: Store) -> None:
    import stackml.data as sd

    version = sd.add("labels", pa.table({"key": ["r1"], "label": ["a"]}), store=store)
    ref = Reference.from_table(pa.table({"a": [1.0, 2.0]}))
    create_monitor("m", "d", reference=ref, spec={}, store=store)
    with pytest.raises(InvalidInput):
        trigger_retraining(store, "m", version)
    store.metadata.update_monitor(
        "m",
        spec={
            **store.metadata.get_monitor("m").spec,
            "retrain": {"pipeline": "train", "params": {"lr": 0.1}},
        },
    )
    calls = []

    def launcher(name: str, params: dict, trigger: str, _store: Store) -> SimpleNamespace:
        calls.append((name, params, trigger))
        return SimpleNamespace(run_id="run123")

    trigger_retraining(store, "m", version, launcher=launcher)
    assert calls == [("train", {"lr": 0.1, "dataset": "labels@v1"}, "dataset:labels@v1")]
    up = store.metadata.list_lineage("pipeline_run", "run123", direction="upstream")
    assert {(e.source_type, e.role) for e in up} == {
        ("dataset_version", "trigger"),
        ("monitor", "retrain"),
    }


def test_scheduler_runs_due_monitors(store: Store) -> None:
    ref = Reference.from_table(pa.table({"a": np.arange(100.0)}))
    create_monitor(
        "every", "d", reference=ref, spec={"schedule_s": 60, "window": {"size": 10}}, store=store
    )
    create_monitor("manual", "d", reference=ref, spec={}, store=store)
    write_logs(store, log_table({"a": np.arange(20.0)}, deployment="d"))
    clock = [1_000.0]
    scheduler = MonitorScheduler(store, clock=lambda: clock[0])
    assert due_monitors(store, 1_000_000) == ["every"]
    assert scheduler.tick() == ["every"]
    assert len(store.metadata.list_monitor_results("every")) == 2
    clock[0] += 30
    assert scheduler.tick() == []  # not due again for 60 s
    clock[0] += 31
    assert scheduler.tick() == ["every"]
