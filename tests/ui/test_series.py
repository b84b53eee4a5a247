"""Chart data: the store's array read of a metric history and the downsampled series route."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from stackml.errors import InvalidInput, NotFound
from stackml.store import open_store
from stackml.store.base import MetadataStore
from stackml.store.entities import MetricColumns, MetricPoint
from stackml.store.rest import RestMetadataStore
from stackml.store.series import MetricArrays, downsample
from tests.server.conftest import LiveServer
from tests.ui.conftest import Seeded


def _log(store: MetadataStore, run_id: str, steps: list[int], values: list[float]) -> None:
    store.log_metric_columns(run_id, {"m": MetricColumns(steps, [1000 + s for s in steps], values)})


def test_arrays_match_history_across_chunks_and_out_of_order_steps(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    meta = store.metadata
    run = meta.create_run("p")
    _log(meta, run.id, [10, 11, 12], [1.0, 2.0, 3.0])
    _log(meta, run.id, [0, 1, 2], [0.0, float("nan"), float("inf")])
    _log(meta, run.id, [20, 21], [5.0, 6.0])
    arrays = meta.metric_history_arrays(run.id, "m")
    history = meta.metric_history(run.id, "m")
    assert arrays.steps.tolist() == [p.step for p in history] == [0, 1, 2, 10, 11, 12, 20, 21]
    assert arrays.timestamps.tolist() == [p.timestamp for p in history]
    np.testing.assert_array_equal(arrays.values, [p.value for p in history])
    part = meta.metric_history_arrays(run.id, "m", start_step=2, end_step=11)
    assert part.steps.tolist() == [2, 10, 11] and part.total == 3
    assert meta.metric_history_arrays(run.id, "m", start_step=13, end_step=19).total == 0
    assert len(meta.metric_history_arrays(run.id, "unknown")) == 0
    with pytest.raises(InvalidInput):
        meta.metric_history_arrays(run.id, "m", start_step=5, end_step=1)
    with pytest.raises(NotFound):
        meta.metric_history_arrays("0" * 32, "m")
    store.close()


def test_postgres_store_reads_ranges(fresh_postgres_url: str) -> None:
    from stackml.store.sql.store import SqlMetadataStore

    meta = SqlMetadataStore(fresh_postgres_url)
    run = meta.create_run("p")
    _log(meta, run.id, list(range(100)), [float(i) for i in range(100)])
    _log(meta, run.id, list(range(100, 200)), [float(i) for i in range(100, 200)])
    part = meta.metric_history_arrays(run.id, "m", start_step=95, end_step=104)
    assert part.steps.tolist() == list(range(95, 105))
    meta.close()


def test_default_implementation_agrees_with_sql(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s"))
    run = store.metadata.create_run("p")
    _log(store.metadata, run.id, [3, 1, 2, 2], [3.0, 1.0, 2.0, 2.5])
    fast = store.metadata.metric_history_arrays(run.id, "m", start_step=2)
    # The ABC's default builds the same columns from metric_history.
    slow = MetadataStore.metric_history_arrays(store.metadata, run.id, "m", start_step=2)
    for a, b in ((fast.steps, slow.steps), (fast.values, slow.values)):
        np.testing.assert_array_equal(a, b)
    assert fast.total == slow.total == 3
    store.close()


def test_downsample_keeps_extremes_and_budget() -> None:
    n = 1_000_000
    steps = np.arange(n, dtype=np.int64)
    values = np.sin(steps / 1000.0)
    values[123_457] = 50.0
    values[765_432] = -50.0
    arrays = MetricArrays(steps, steps * 10, values, n)
    small = downsample(arrays, 1000)
    assert len(small) <= 1000 and small.total == n
    assert 50.0 in small.values and -50.0 in small.values
    assert bool((np.diff(small.steps) > 0).all())
    assert downsample(arrays.in_steps(10, 500), 1000).steps.tolist() == list(range(10, 501))
    with pytest.raises(InvalidInput):
        downsample(arrays, 2)


def test_downsample_drops_non_finite_only_when_thinning() -> None:
    values = np.array([1.0, np.nan, 3.0, np.inf] * 50)
    arrays = MetricArrays(np.arange(200), np.arange(200), values, 200)
    assert len(downsample(arrays, 1000)) == 200  # within budget: exact, NaN kept
    thin = downsample(arrays, 20)
    assert np.isfinite(thin.values).all() and len(thin) <= 20


def test_series_route_downsamples_and_zooms(ui_server: LiveServer, seeded: Seeded) -> None:
    url = f"{ui_server.url}/api/v1/runs/{seeded.long_run}/metrics/series"
    with httpx.Client(timeout=30) as client:
        whole = client.get(url, params={"key": "loss", "max_points": 500}).json()
        assert whole["total"] == seeded.points and whole["downsampled"] is True
        assert len(whole["steps"]) <= 500 and 5.0 in whole["values"]  # the spike survives
        zoom = client.get(
            url, params={"key": "loss", "max_points": 500, "start_step": 100, "end_step": 299}
        ).json()
        assert zoom["steps"] == list(range(100, 300)) and zoom["downsampled"] is False
        for bad in (
            {"key": "loss", "max_points": 1},
            {"key": "loss", "start_step": 9, "end_step": 1},
        ):
            answer = client.get(url, params=bad)
            assert answer.status_code == 400, answer.text
        missing = client.get(
            f"{ui_server.url}/api/v1/runs/{'0' * 32}/metrics/series", params={"key": "loss"}
        )
        assert missing.status_code == 404


def test_rest_store_reads_arrays_over_http(ui_server: LiveServer, seeded: Seeded) -> None:
    rest = RestMetadataStore(ui_server.url)
    try:
        arrays = rest.metric_history_arrays(seeded.long_run, "loss", start_step=10, end_step=19)
        local = seeded.store.metadata.metric_history_arrays(
            seeded.long_run, "loss", start_step=10, end_step=19
        )
        np.testing.assert_array_equal(arrays.values, local.values)
        assert arrays.steps.tolist() == list(range(10, 20))
        points = [MetricPoint("x", float("nan"), 0, 1)]
        rest.log_metrics(seeded.other_run, points)
        assert np.isnan(rest.metric_history_arrays(seeded.other_run, "x").values[0])
    finally:
        rest.close()
