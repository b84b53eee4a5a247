"""``RayExecutor`` against a real local Ray started in this module (loopback only)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackml.compute import iter_logs, make_spec
from stackml.store import Store
from stackml.store.jobs_base import JobState
from tests.compute.conftest import TEST_ENV, pid_alive, read_pid, wait_until

ray = pytest.importorskip("ray")

# One Ray head per test process: under pytest-xdist every Ray test goes to the same worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture
def executor(ray_cluster: None, store: Store) -> Iterator[object]:
    from stackml.compute.ray_executor import RayExecutor

    ex = RayExecutor(store, cancel_poll_s=0.1)
    yield ex
    ex.join(timeout=30)


def test_jobs_run_as_ray_tasks_with_logs_and_status(executor: object, store: Store) -> None:
    from stackml.compute.ray_executor import RayExecutor

    assert isinstance(executor, RayExecutor)
    ok = executor.submit(make_spec(["sh", "-c", "echo one; sleep 0.3; echo two"], cpus=1))
    bad = executor.submit(make_spec([sys.executable, "-c", "raise SystemExit(5)"], cpus=1))
    tracked = executor.submit(
        make_spec(
            target="tests.compute.targets:tracked",
            args={"project": "on-ray", "value": 2.0},
            env=TEST_ENV,
            cpus=0.5,
        )
    )
    assert ok.executor == "ray"
    done = executor.wait(ok.id, timeout=60)
    assert done.state is JobState.SUCCEEDED and done.exit_code == 0
    assert "".join(iter_logs(store, ok.id)) == "one\ntwo\n"
    assert store.metadata.read_job_log(ok.id).text == "one\ntwo\n"  # streamed while running
    failed = executor.wait(bad.id, timeout=60)
    assert failed.state is JobState.FAILED and failed.exit_code == 5
    assert executor.wait(tracked.id, timeout=60).state is JobState.SUCCEEDED
    assert [
        r.metrics["value"].latest for r in store.metadata.search_runs(project="on-ray").runs
    ] == [2.0]
    # Local workers never claim Ray's jobs.
    worker = store.metadata.register_worker(
        name="w", host="h", cpus=8, gpus=[], memory_mb=0, lease_s=5
    )
    from stackml.store.jobs_base import Capacity

    assert store.metadata.claim_jobs(worker.id, Capacity(cpus=8), limit=10) == []


def test_cancel_and_timeout_kill_the_tree_on_ray(
    executor: object, store: Store, tmp_path: Path
) -> None:
    from stackml.compute.ray_executor import RayExecutor

    assert isinstance(executor, RayExecutor)
    pid_file = tmp_path / "child.pid"
    long = executor.submit(make_spec(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"]))
    child = read_pid(pid_file)
    wait_until(lambda: store.metadata.get_job(long.id).state is JobState.RUNNING)
    store.metadata.cancel_job(long.id)
    assert executor.wait(long.id, timeout=60).state is JobState.CANCELLED
    wait_until(lambda: not pid_alive(child), timeout=20)

    timed = executor.submit(make_spec(["sleep", "60"], timeout=0.5))
    final = executor.wait(timed.id, timeout=60)
    assert final.state is JobState.FAILED and "timed out" in (final.error or "")


def test_ddp_ranks_as_ray_actors(ray_cluster: None, store: Store) -> None:
    from stackml.training import LaunchError
    from stackml.training.digits_ddp import train_digits
    from stackml.training.ray_launch import launch_on_ray
    from tests.compute.targets import rank_one_fails, world_size

    result = launch_on_ray(train_digits, nprocs=2, args=(1,), project="ray-ddp")
    rank0, rank1 = result.results
    assert (rank0["world_size"], rank1["rank"]) == (2.0, 1.0)
    assert rank0["max_param_diff"] == 0.0 and rank0["test_accuracy"] == rank1["test_accuracy"]
    assert result.run_id is not None
    run = store.metadata.get_run(result.run_id)
    assert run.metrics["test_accuracy"].latest == pytest.approx(rank0["test_accuracy"])
    paths = [a.path for a in store.metadata.list_artifacts(result.run_id, "logs")]
    assert paths == ["logs/rank0.log", "logs/rank1.log"]

    with pytest.raises(LaunchError, match="rank 1 failed first with RuntimeError: rank 1 gives up"):
        launch_on_ray(rank_one_fails, nprocs=2, timeout_s=60)
    # Both actors were killed: the CPUs are free again for the next launch.
    assert launch_on_ray(world_size, nprocs=2).results == [2, 2]
