"""Executors: local subprocesses (kills and timeouts), and compute jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackml.pipelines import create_executor, run_pipeline
from stackml.store import Store
from tests.pipelines import steps_demo
from tests.pipelines.conftest import count


def test_local_executor_runs_each_step_in_a_process(store: Store, marks: Path) -> None:
    result = run_pipeline(steps_demo.numbers, params={"n": 6}, executor="local", store=store)
    assert result.status == "succeeded", result.steps
    assert result.output("total") == {"evens": 6, "odds": 9, "scale": 1}
    log = store.blobs.get_bytes(result.steps["make_numbers"].log_hash)
    assert b"making 6 numbers" in log
    # The in-process executor shares the same cache.
    again = run_pipeline(steps_demo.numbers, params={"n": 6}, store=store)
    assert again.cache_hits == ["make_numbers", "split", "total"]


def test_killed_step_is_not_a_success_and_is_not_cached(
    store: Store, marks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKML_TEST_KILL", "1")
    killed = steps_demo.killable.run({"n": 4}, store=store)
    step = killed.steps["suicide"]
    assert step.status == "killed" and "signal 9" in step.error
    assert killed.status == "killed"
    assert step.outputs == ()
    assert store.metadata.get_cache_entries([step.cache_key]) == {}
    assert store.metadata.get_run(step.run_id).status.value == "killed"
    monkeypatch.delenv("STACKML_TEST_KILL")
    rerun = steps_demo.killable.run({"n": 4}, store=store)
    assert rerun.status == "succeeded"
    assert rerun.executed == ["suicide"]  # nothing of the killed attempt was reused
    assert rerun.cache_hits == ["make_numbers"]
    assert count(marks, "suicide") == 2


def test_timeout_kills_the_step(store: Store) -> None:
    result = steps_demo.too_slow.run({"n": 3}, store=store)
    assert result.steps["sleepy"].status == "killed"
    assert "timed out" in result.steps["sleepy"].error
    assert result.status == "killed"


def test_unknown_executor_is_refused_before_running(store: Store) -> None:
    from stackml.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown executor"):
        run_pipeline(steps_demo.numbers, executor="nowhere", store=store)
    assert store.metadata.list_pipeline_runs() == []
    with pytest.raises(InvalidInput):
        create_executor("nowhere", store, 1)


def test_compute_executor_runs_steps_as_jobs(store: Store, marks: Path) -> None:
    result = run_pipeline(steps_demo.numbers, params={"n": 8}, executor="compute", store=store)
    assert result.status == "succeeded", {k: v.error for k, v in result.steps.items()}
    assert result.output("total") == {"evens": 12, "odds": 16, "scale": 1}
    jobs = store.metadata.list_jobs()
    assert sorted(j.name for j in jobs) == [
        "numbers.make_numbers",
        "numbers.split",
        "numbers.total",
    ]
    assert all(j.state.value == "succeeded" for j in jobs)
    log = store.blobs.get_bytes(result.steps["make_numbers"].log_hash)
    assert b"making 8 numbers" in log
