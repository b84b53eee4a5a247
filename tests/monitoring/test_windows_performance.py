"""Windows, data quality, operational statistics, delayed-label performance and streaming."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from stackml.monitoring import MonitorSpec, NumericReference, Reference, WindowSpec, evaluate_window
from stackml.monitoring.performance import feedback_table, join_labels, performance_of
from stackml.monitoring.stream import evaluate_batches, evaluate_parquet
from stackml.monitoring.windows import split_windows
from tests.monitoring.conftest import log_table


def test_count_windows_take_rows_in_time_order() -> None:
    table = log_table({"a": list(range(25))}, step_ms=7)
    windows = list(split_windows(table, WindowSpec("count", 10)))
    assert [w.table.num_rows for w in windows] == [10, 10, 5]
    assert [w.complete for w in windows] == [True, True, False]
    assert windows[1].table.column("f.a").to_pylist() == list(range(10, 20))
    assert len(list(split_windows(table, WindowSpec("count", 10), include_partial=False))) == 2


def test_time_windows_are_aligned_and_the_newest_is_open() -> None:
    table = log_table({"a": list(range(30))}, start_ms=10_000, step_ms=100)  # 10.0 s .. 12.9 s
    windows = list(split_windows(table, WindowSpec("time", 1000)))
    assert [(w.start_ms, w.end_ms, w.table.num_rows) for w in windows] == [
        (10_000, 11_000, 10),
        (11_000, 12_000, 10),
        (12_000, 13_000, 10),
    ]
    assert [w.complete for w in windows] == [True, True, False]


def test_late_label_joins_the_right_prediction() -> None:
    preds = log_table(
        {"a": [1, 2, 3, 4]},
        request_ids=["r1", "r2", "r3", "r4"],
        predictions=["A", "B", "A", "B"],
        variant=["primary", "primary", "primary", "shadow"],
    )
    feedback = feedback_table(
        [
            {"request_id": "r2", "label": "A", "ts_ms": 5},
            {"request_id": "r1", "label": "A", "ts_ms": 6},
            {"request_id": "r2", "label": "B", "ts_ms": 9},  # a correction, later: it wins
            {"request_id": "r9", "label": "A", "ts_ms": 9},  # unknown request: ignored
            {"request_id": "r4", "label": "A", "ts_ms": 9},  # shadow rows are not scored
        ]
    )
    joined = join_labels(preds, feedback)
    labels = dict(
        zip(
            joined.column("request_id").to_pylist(), joined.column("label").to_pylist(), strict=True
        )
    )
    assert labels == {"r1": "A", "r2": "B", "r3": None}
    perf = performance_of(joined)
    assert perf is not None and perf["labeled"] == 2 and perf["accuracy"] == 1.0


def test_performance_metrics_and_slices() -> None:
    rng = np.random.default_rng(0)
    n = 400
    truth = rng.choice(["x", "y"], n)
    pred = np.where(rng.random(n) < 0.75, truth, np.where(truth == "x", "y", "x"))
    conf = np.full(n, 0.75)
    region = np.where(np.arange(n) % 2 == 0, "north", "south")
    table = log_table({"region": region}, predictions=pred.tolist(), confidence=conf.tolist())
    fb = feedback_table(
        [
            {"request_id": r, "label": t, "ts_ms": 1}
            for r, t in zip(table.column("request_id").to_pylist(), truth, strict=True)
        ]
    )
    ref = Reference(
        {
            "region": __import__("stackml.monitoring", fromlist=["x"]).CategoricalReference(
                "region", {"north": 1, "south": 1}
            )
        }
    )
    report = evaluate_window(table, ref, MonitorSpec("d", slices=("f.region",)), feedback=fb)
    acc = float(np.mean(pred == truth))
    assert report.stats["performance.accuracy"] == pytest.approx(acc)
    assert report.stats["performance.ece"] == pytest.approx(abs(acc - 0.75))
    cm = np.array(report.performance["confusion"])
    assert cm.sum() == n and np.trace(cm) == int(np.sum(pred == truth))
    from sklearn.metrics import f1_score

    assert report.stats["performance.f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    north = report.slices["f.region"]["north"]
    assert north["labeled"] == n // 2
    assert north["accuracy"] == pytest.approx(float(np.mean((pred == truth)[region == "north"])))


def test_quality_and_operational_statistics() -> None:
    ref = Reference({"a": NumericReference.from_values("a", np.arange(100.0))})
    values = [float(v) for v in range(90)] + [None] * 5 + [500.0, -3.0, 1e9, 50.0, 50.0]
    latency = [float(i) for i in range(100)]
    preds = ["1"] * 98 + [None, None]
    table = log_table({"a": values}, latency=latency, predictions=preds)
    report = evaluate_window(table, ref, MonitorSpec("d"))
    assert report.stats["quality.a.missing_rate"] == pytest.approx(0.05)
    assert report.stats["quality.a.out_of_range_rate"] == pytest.approx(0.03)
    assert report.stats["operational.latency_p50"] == pytest.approx(49.5)
    assert report.stats["operational.latency_p99"] == pytest.approx(np.percentile(latency, 99))
    assert report.stats["operational.error_rate"] == pytest.approx(0.02)


def test_schema_violation_when_a_feature_is_missing_or_mistyped() -> None:
    ref = Reference(
        {
            "a": NumericReference.from_values("a", [1.0, 2.0]),
            "b": NumericReference.from_values("b", [1.0, 2.0]),
        }
    )
    table = log_table({"a": ["x", "y"]})
    report = evaluate_window(table, ref, MonitorSpec("d"))
    assert report.stats["quality.schema_violations"] == 2
    assert any("'b'" in v for v in report.violations) and any("'a'" in v for v in report.violations)


def test_streaming_matches_in_memory_and_reads_parquet_in_batches(tmp_path) -> None:
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    ref = Reference.from_table(
        pa.table({"a": rng.normal(size=50_000), "b": rng.integers(0, 8, 50_000)}), max_exact=100
    )
    current = pa.table({"a": rng.normal(0.2, size=30_000), "b": rng.integers(0, 9, 30_000)})
    spec = MonitorSpec("d", numeric_tests=("ks", "psi"))
    whole = evaluate_window(current, ref, spec)
    streamed = evaluate_batches(current.to_batches(max_chunksize=4096), ref, spec)
    for a, b in zip(whole.checks, streamed.checks, strict=True):
        assert (a.feature, a.test) == (b.feature, b.test)
        assert a.statistic == pytest.approx(b.statistic, abs=1e-12)
    assert whole.drifted_features == streamed.drifted_features == ("a", "b")
    path = tmp_path / "cur.parquet"
    pq.write_table(current, path, row_group_size=5000)
    from_disk = evaluate_parquet([path], ref, spec, batch_rows=5000)
    assert [c.statistic for c in from_disk.checks] == pytest.approx(
        [c.statistic for c in whole.checks]
    )
