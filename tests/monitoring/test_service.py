"""Monitors end to end over prediction logs stored as serving writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import stackml.labeling as labeling
from stackml.errors import AlreadyExists, InvalidInput
from stackml.monitoring import (
    ImageReference,
    Reference,
    add_labels,
    create_monitor,
    load_reference,
    performance_history,
    run_monitor,
)
from stackml.monitoring.prometheus import drift_registry
from stackml.store import Store
from tests.monitoring.conftest import log_table, write_logs


def _wine_like(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        "alcohol": rng.normal(13.0 + shift, 0.8, n),
        "ash": rng.normal(2.4, 0.3, n),
        "hue": rng.normal(1.0, 0.2, n),
    }


def _spec(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "window": {"kind": "count", "size": 200},
        "rules": [
            {
                "name": "feature-drift",
                "statistic": "drift_share",
                "op": ">",
                "threshold": 0.0,
                "cooldown_s": 3600,
            },
            {"name": "slow", "statistic": "operational.latency_p95", "op": ">", "threshold": 100},
        ],
        "notifiers": [{"type": "log", "path": str(tmp_path / "alerts.jsonl"), "name": "ops-log"}],
        **extra,
    }


def test_run_detects_drift_fires_alert_once_and_resumes(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ref = Reference.from_table(pa.table(_wine_like(rng, 3000)))
    create_monitor("wine-drift", "wine", reference=ref, spec=_spec(tmp_path), store=store)
    with pytest.raises(AlreadyExists):
        create_monitor("wine-drift", "wine", reference=ref, spec={}, store=store)
    write_logs(store, log_table(_wine_like(rng, 400), start_ms=1_000))
    write_logs(store, log_table(_wine_like(rng, 400, shift=1.0), start_ms=100_000))
    first = run_monitor("wine-drift", store=store, now_ms=10**9)
    assert [w.drifted_features for w in first.windows] == [(), (), ("alcohol",), ("alcohol",)]
    assert [a.rule for a in first.alerts] == ["feature-drift"]  # cooldown holds the second
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["statistic"] == "drift_share"
    assert first.alerts[0].notified == ("ops-log",)
    assert run_monitor("wine-drift", store=store, now_ms=10**9).windows == []  # nothing new
    write_logs(store, log_table(_wine_like(rng, 200), start_ms=200_000))
    again = run_monitor("wine-drift", store=store, now_ms=10**9)
    assert len(again.windows) == 1 and again.windows[0].drifted_features == ()
    results = store.metadata.list_monitor_results("wine-drift", kind="window")
    assert len(results) == 5 and results[2].payload["drifted_features"] == ["alcohol"]
    assert [e.rule for e in store.metadata.list_alert_events("wine-drift")] == ["feature-drift"]
    text = drift_registry(store.metadata)
    from prometheus_client import generate_latest

    exposition = generate_latest(text).decode()
    assert (
        'stackml_monitor_drift_score{feature="alcohol",monitor="wine-drift",test="ks"}'
        in exposition
    )
    assert 'stackml_monitor_drift_share{monitor="wine-drift"} 0.0' in exposition


def test_reference_from_dataset_schema_without_reading_data(store: Store, tmp_path: Path) -> None:
    import stackml.data as sd

    rng = np.random.default_rng(1)
    frame = pa.table({**_wine_like(rng, 1000), "label": rng.choice(["a", "b"], 1000)})
    version = sd.add("wine", frame, store=store)
    monitor = create_monitor("wine-ds", "wine", dataset="wine@latest", label="label", store=store)
    ref = load_reference(store, monitor)
    assert set(ref.columns) == {"alcohol", "ash", "hue"} and ref.predictions is not None
    assert monitor.spec["reference"] == "wine@latest"
    edges = store.metadata.list_lineage("monitor", "wine-ds", direction="upstream")
    assert [(e.source_id, e.role) for e in edges] == [(version.id, "reference")]


def test_bad_definitions_are_refused(store: Store) -> None:
    ref = Reference.from_table(pa.table({"a": [1.0, 2.0]}))
    with pytest.raises(InvalidInput):
        create_monitor(
            "m",
            "d",
            reference=ref,
            spec={"notifiers": [{"type": "webhook", "url": "http://169.254.169.254/"}]},
            store=store,
        )
    with pytest.raises(InvalidInput):
        create_monitor("m", "d", store=store)


def test_late_labels_give_performance_per_window(store: Store) -> None:
    rng = np.random.default_rng(2)
    ref = Reference.from_table(pa.table(_wine_like(rng, 500)))
    create_monitor(
        "perf", "wine", reference=ref, spec={"window": {"kind": "count", "size": 100}}, store=store
    )
    preds = ["a"] * 100 + ["b"] * 100
    table = log_table(
        _wine_like(rng, 200), predictions=preds, request_ids=[f"r{i}" for i in range(200)]
    )
    write_logs(store, table)
    summary = run_monitor("perf", store=store)
    assert all(w.performance is None for w in summary.windows)  # no labels yet
    truth = {f"r{i}": "a" for i in range(200) if i % 4 != 0}  # every 4th unlabeled
    truth.update({f"r{i}": "b" for i in range(150, 200)})
    assert add_labels(store, "wine", truth) == len(truth)
    history = performance_history(store, "perf")
    assert [h["labeled"] for h in history] == [75, 87]
    assert history[0]["accuracy"] == 1.0
    assert history[1]["accuracy"] == pytest.approx(50 / 87)  # rows 100-149 were wrong


def test_flywheel_routes_low_confidence_and_flagged_within_budget(store: Store) -> None:
    rng = np.random.default_rng(3)
    labeling.create_project("wine-review", "image_classification", ["a", "b"], store=store)
    images = rng.random((300, 8, 8)).astype(np.float32)
    ref = Reference(images=ImageReference.from_images(images))
    spec = {
        "window": {"kind": "count", "size": 100},
        "routing": {"project": "wine-review", "confidence_below": 0.5, "budget": 10},
    }
    create_monitor("fly", "digits", reference=ref, spec=spec, store=store)
    conf = np.linspace(0.05, 0.95, 100)
    ids = [f"q{i}" for i in range(100)]
    table = log_table(
        n=100,
        deployment="digits",
        confidence=conf.tolist(),
        request_ids=ids,
        predictions=["a"] * 100,
        with_inputs=True,
    )
    write_logs(store, table, tensors=images[:100] * 0.5)  # darker: pixel drift
    store.metadata.add_feedback("digits", "q99", flag="wrong")
    summary = run_monitor("fly", store=store)
    report = summary.windows[0]
    assert any(c.test == "pixel_stats" and c.drifted for c in report.checks)
    routed = [c.request_id for c, _ in summary.routed]
    assert routed[0] == "q99" and len(routed) == 10  # flagged first, then least confident
    assert routed[1:] == [f"q{i}" for i in range(9)]
    tasks = store.metadata.list_label_tasks("wine-review")
    assert len(tasks) == 10
    task = next(t for t in tasks if t.key == "q0")
    assert task.data["width"] == 8 and task.prelabel["value"] == {"class": "a"}
    # Routed items are never routed twice.
    write_logs(
        store,
        log_table(
            n=100,
            deployment="digits",
            confidence=conf.tolist(),
            request_ids=ids,
            start_ms=5_000_000,
            with_inputs=True,
        ),
        tensors=images[:100],
    )
    again = run_monitor("fly", store=store)
    assert not {c.request_id for c, _ in again.routed} & set(routed)
