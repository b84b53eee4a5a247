"""Executors: in-process timeouts, local subprocesses (kills and timeouts), compute jobs on
the local queue and on Ray."""

from __future__ import annotations

import threading
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


def test_inprocess_timeout_kills_the_step_and_abandons_its_thread(
    store: Store, marks: Path
) -> None:
    steps_demo.RELEASE.clear()
    try:
        result = steps_demo.hangs.run({"n": 3}, store=store)  # in-process executor
        step = result.steps["stuck"]
        assert step.status == "killed" and "timed out after 0.5 s" in step.error
        assert "cannot stop a thread" in step.error
        assert result.status == "killed"
        assert step.outputs == ()
    finally:
        steps_demo.RELEASE.set()
    # The abandoned thread ends now; what it returns is neither recorded nor cached.
    for thread in threading.enumerate():
        if thread.name == "stackml-step-stuck":
            thread.join(10)
    assert count(marks, "stuck") == 1
    assert store.metadata.get_cache_entries([step.cache_key]) == {}
    (saved,) = [s for s in store.metadata.list_step_runs(result.run_id) if s.step == "stuck"]
    assert saved.status == "killed" and saved.outputs == ()
    assert store.metadata.get_run(step.run_id).status.value == "killed"
    log = store.blobs.get_bytes(saved.log_hash).decode()
    assert "timed out" in log


def test_ctrl_c_in_an_inprocess_step_leaves_a_consistent_resumable_run(
    store: Store, marks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKML_TEST_INTERRUPT", "1")
    with pytest.raises(KeyboardInterrupt):
        steps_demo.ctrl_c.run({"n": 3}, store=store)
    (run,) = store.metadata.list_pipeline_runs("ctrl_c")
    assert run.status == "killed" and run.ended_at is not None
    steps = {s.step: s for s in store.metadata.list_step_runs(run.id)}
    assert steps["make_numbers"].status == "succeeded"
    assert steps["interrupted"].status == "killed" and steps["interrupted"].outputs == ()
    assert store.metadata.get_cache_entries([steps["interrupted"].cache_key]) == {}
    for step in steps.values():  # each step's tracked run is closed, none left running
        tracked = store.metadata.get_run(step.run_id)
        assert tracked.parent_id == run.id and tracked.status.value != "running"
    assert store.metadata.get_run(run.id).status.value == "killed"
    monkeypatch.delenv("STACKML_TEST_INTERRUPT")
    again = steps_demo.ctrl_c.run({"n": 3}, store=store)
    assert again.status == "succeeded" and again.output("interrupted") == 3
    assert again.cache_hits == ["make_numbers"] and again.executed == ["interrupted"]
    assert count(marks, "make_numbers") == 1 and count(marks, "interrupted") == 2


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


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_ray_executor_runs_steps_as_ray_tasks(ray_cluster: None, store: Store) -> None:
    result = run_pipeline(steps_demo.numbers, params={"n": 5}, executor="ray", store=store)
    assert result.status == "succeeded", {k: v.error for k, v in result.steps.items()}
    assert result.output("total") == {"evens": 6, "odds": 4, "scale": 1}
    jobs = store.metadata.list_jobs()
    assert sorted(j.name for j in jobs) == [
        "numbers.make_numbers",
        "numbers.split",
        "numbers.total",
    ]
    assert all(j.executor == "ray" and j.state.value == "succeeded" for j in jobs)
    assert all(s.executor == "ray" for s in store.metadata.list_step_runs(result.run_id))
    log = store.blobs.get_bytes(result.steps["make_numbers"].log_hash)
    assert b"making 5 numbers" in log
    child = store.metadata.get_run(result.steps["total"].run_id)
    assert child.parent_id == result.run_id and child.status.value == "completed"
    # The outputs Ray's workers stored serve the in-process executor's cache.
    again = run_pipeline(steps_demo.numbers, params={"n": 5}, store=store)
    assert again.cache_hits == ["make_numbers", "split", "total"]
