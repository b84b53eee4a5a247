"""Metric logging: values, steps, history, flush durability and the background writer."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Mapping, Sequence

import pytest

import stackml
from stackml.errors import InvalidInput, NotFound, StackmlError, StoreUnavailable
from stackml.store import MetricPoint
from stackml.store.entities import MetricColumns
from stackml.tracking.writer import MetricWriter


def _run(mode: str) -> stackml.ActiveRun:
    return stackml.start_run(project=f"m-{uuid.uuid4().hex[:8]}", capture_environment=False)


def test_history_is_ordered_and_auto_steps_per_key(mode: str) -> None:
    with _run(mode) as run:
        run.log_metrics({"loss": 3.0, "acc": 0.1})
        run.log_metrics({"loss": 2.0})
        run.log_metrics({"loss": 1.0, "acc": 0.5})
        run.log_metrics({"acc": 0.7}, step=10)
        run.log_metric("acc", 0.8)
    loss = stackml.metric_history(run.id, "loss")
    assert [(s, v) for s, _, v in loss] == [(0, 3.0), (1, 2.0), (2, 1.0)]
    acc = stackml.metric_history(run.id, "acc")
    assert [(s, v) for s, _, v in acc] == [(0, 0.1), (1, 0.5), (10, 0.7), (11, 0.8)]
    assert all(isinstance(ts, int) and ts > 1_600_000_000_000 for _, ts, _ in acc)
    summary = stackml.get_run(run.id).metrics["acc"]
    assert (summary.latest, summary.latest_step, summary.count) == (0.8, 11, 4)
    assert (summary.min, summary.max) == (0.1, 0.8)


def test_out_of_order_steps_are_returned_sorted(mode: str) -> None:
    with _run(mode) as run:
        for step in (5, 1, 3, 2, 4):
            run.log_metrics({"x": float(step)}, step=step)
    assert [s for s, _, _ in stackml.metric_history(run.id, "x")] == [1, 2, 3, 4, 5]


def test_numpy_and_torch_scalars_are_accepted(mode: str) -> None:
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    with _run(mode) as run:
        run.log_metrics(
            {"np32": np.float32(0.5), "np64": np.float64(1.5), "npi": np.int64(3)}, step=0
        )
        run.log_metrics({"t": torch.tensor(2.5), "ti": torch.tensor(4)}, step=np.int64(1))
        run.log_metrics({"nan": float("nan"), "inf": math.inf}, step=0)
    history = {
        k: stackml.metric_history(run.id, k)[0][2] for k in ("np32", "np64", "npi", "t", "ti")
    }
    assert history == {"np32": 0.5, "np64": 1.5, "npi": 3.0, "t": 2.5, "ti": 4.0}
    assert math.isnan(stackml.metric_history(run.id, "nan")[0][2])
    assert stackml.metric_history(run.id, "inf")[0][2] == math.inf


def test_bad_metrics_are_refused_on_the_caller(mode: str) -> None:
    torch = pytest.importorskip("torch")
    with _run(mode) as run:
        for bad in ({"x": "0.5"}, {"x": None}, {"x": [1.0]}, {"x": torch.ones(3)}):
            with pytest.raises(InvalidInput):
                run.log_metrics(bad)
        with pytest.raises(InvalidInput):
            run.log_metrics({"bad\tkey": 1.0})
        with pytest.raises(InvalidInput):
            run.log_metrics({"x": 1.0}, step=1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            run.log_metrics([("x", 1.0)])  # type: ignore[arg-type]
        run.log_metrics({"x": 1.0})
    assert len(stackml.metric_history(run.id, "x")) == 1


def test_flush_makes_points_durable_for_another_store(mode: str) -> None:
    run = _run(mode)
    for step in range(2000):
        run.log_metrics({"a": step, "b": -step}, step=step)
    stackml.flush()
    # A separately opened store sees every point without going through this process' writer.
    from stackml.store import open_store

    other = open_store()
    try:
        assert len(other.metadata.metric_history(run.id, "a")) == 2000
        assert other.metadata.metric_summaries(run.id)["b"].latest == -1999
    finally:
        other.close()
    run.finish()


# -- the writer on its own, with stores that are slow or failing -------------------------


class RecordingStore:
    """The one method the writer calls, recording what reaches it."""

    def __init__(self, *, delay: float = 0.0, failures: int = 0, error: Exception | None = None):
        self.delay = delay
        self.failures = failures
        self.error = error or StoreUnavailable("store down")
        self.points: list[MetricPoint] = []
        self.calls = 0
        self.writer: MetricWriter | None = None
        self.max_backlog = 0
        self.lock = threading.Lock()

    def log_metric_columns(self, run_id: str, columns: Mapping[str, MetricColumns]) -> None:
        self.log_metrics(run_id, [p for key, cols in columns.items() for p in cols.points(key)])

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        with self.lock:
            self.calls += 1
            if self.writer is not None:
                self.max_backlog = max(self.max_backlog, self.writer.backlog())
            if self.failures:
                self.failures -= 1
                raise self.error
        time.sleep(self.delay)
        with self.lock:
            self.points.extend(points)


def test_bounded_queue_applies_back_pressure_and_delivers_everything() -> None:
    store = RecordingStore(delay=0.01)
    writer = MetricWriter(store, capacity=50, batch_points=20, linger_s=0.01)  # type: ignore[arg-type]
    store.writer = writer
    for step in range(400):
        writer.put(("r", step, None, 0, {"a": float(step), "b": 0.0, "c": 1.0}), 3)
        # Never more than the capacity in memory, plus the record being added.
        assert writer.backlog() <= 50 + 3
    writer.flush()
    assert len(store.points) == 1200
    assert [p.step for p in store.points if p.key == "a"] == list(range(400))
    assert store.max_backlog <= 53
    assert store.calls >= 1200 // 50
    assert writer.close() == 0


def test_oversized_record_passes_a_tiny_queue() -> None:
    store = RecordingStore()
    writer = MetricWriter(store, capacity=2, linger_s=0.01)  # type: ignore[arg-type]
    writer.put(("r", 0, None, 0, {f"k{i}": 1.0 for i in range(10)}), 10)
    writer.put(("r", 1, None, 0, {f"k{i}": 1.0 for i in range(10)}), 10)
    writer.flush(timeout=10)
    assert len(store.points) == 20
    writer.close()


def test_transient_failures_are_retried() -> None:
    store = RecordingStore(failures=2)
    writer = MetricWriter(store, linger_s=0.01, retry_delays_s=(0.01, 0.01, 0.01))  # type: ignore[arg-type]
    writer.put(("r", 0, {"a": 7}, 0, {"a": 1.0}), 1)
    writer.flush(timeout=10)
    assert [(p.key, p.step, p.value) for p in store.points] == [("a", 7, 1.0)]
    assert store.calls == 3
    writer.close()


def test_persistent_failure_is_raised_once_by_flush() -> None:
    store = RecordingStore(failures=100)
    writer = MetricWriter(store, linger_s=0.01, retry_delays_s=(0.01, 0.01))  # type: ignore[arg-type]
    writer.put(("r", 0, None, 0, {"a": 1.0, "b": 2.0}), 2)
    with pytest.raises(StackmlError, match="2 metric points could not be written") as info:
        writer.flush(timeout=10)
    assert isinstance(info.value.__cause__, StoreUnavailable)
    assert store.calls == 3
    writer.flush(timeout=10)  # reported once; nothing new failed
    store.failures = 0
    writer.put(("r", 1, None, 0, {"a": 3.0}), 1)
    writer.flush(timeout=10)
    assert [p.value for p in store.points] == [3.0]
    writer.close()


def test_permanent_errors_are_not_retried() -> None:
    store = RecordingStore(failures=1, error=NotFound("no such run"))
    writer = MetricWriter(store, linger_s=0.01, retry_delays_s=(5.0,))  # type: ignore[arg-type]
    writer.put(("gone", 0, None, 0, {"a": 1.0}), 1)
    with pytest.raises(StackmlError, match="no such run"):
        writer.flush(timeout=10)
    assert store.calls == 1
    writer.close()


def test_flush_timeout_reports_pending_points() -> None:
    store = RecordingStore(delay=0.5)
    writer = MetricWriter(store, linger_s=0.0)  # type: ignore[arg-type]
    writer.put(("r", 0, None, 0, {"a": 1.0}), 1)
    with pytest.raises(StoreUnavailable, match="not written within"):
        writer.flush(timeout=0.05)
    writer.flush()
    assert len(store.points) == 1
    writer.close()


def test_flush_through_sdk_raises_write_failures(mode: str) -> None:
    run = _run(mode)
    run.finish()
    run.store.metadata.delete_run(run.id)
    run.log_metrics({"a": 1.0})  # the run is gone: the write fails in the background
    with pytest.raises(StackmlError, match="could not be written"):
        stackml.flush()
    stackml.flush()
