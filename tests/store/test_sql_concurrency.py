"""Many processes writing metrics to one store at once: no errors, no lost points."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from stackml.store.entities import MetricPoint
from stackml.store.sql.store import SqlMetadataStore

WRITERS = 8
POINTS = 2_000
BATCH = 50


def _write(url: str, run_id: str, writer: int) -> int:
    with SqlMetadataStore(url) as store:
        for start in range(0, POINTS, BATCH):
            store.log_metrics(
                run_id,
                [
                    MetricPoint(f"w{writer}" if i % 2 else "shared", float(i), i, i)
                    for i in range(start, start + BATCH)
                ],
            )
            if start % 500 == 0:
                store.set_tags(run_id, {f"writer{writer}": str(start)})
    return POINTS


def _hammer(url: str) -> None:
    with SqlMetadataStore(url) as store:
        run_id = store.create_run("busy").id
    context = multiprocessing.get_context("spawn")
    with context.Pool(WRITERS) as pool:
        written = pool.starmap(_write, [(url, run_id, w) for w in range(WRITERS)])
    assert sum(written) == WRITERS * POINTS
    with SqlMetadataStore(url) as store:
        summaries = store.metric_summaries(run_id)
        assert summaries["shared"].count == WRITERS * POINTS // 2
        for writer in range(WRITERS):
            assert summaries[f"w{writer}"].count == POINTS // 2
            assert len(store.metric_history(run_id, f"w{writer}")) == POINTS // 2
        assert len(store.metric_history(run_id, "shared")) == WRITERS * POINTS // 2
        assert summaries["shared"].max == POINTS - 2


def test_concurrent_writers_sqlite(tmp_path: Path) -> None:
    _hammer(f"sqlite:///{tmp_path / 'busy.db'}")


@pytest.mark.postgres
def test_concurrent_writers_postgres(fresh_postgres_url: str) -> None:
    _hammer(fresh_postgres_url)
