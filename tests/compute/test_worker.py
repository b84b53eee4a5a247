"""The worker loop against a real SQLite store: commands, callables, logs, GPUs, run links,
timeouts and cancellation killing whole process trees."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stackml.compute import LocalExecutor, iter_logs, make_spec
from stackml.compute.worker import JobWorker
from stackml.store import Store
from stackml.store.jobs_base import JobState
from tests.compute.conftest import FAST, TEST_ENV, pid_alive, read_pid, wait_until, worker_thread


def _drain(store: Store, **options: object) -> int:
    return JobWorker(store, settings=FAST, **options).run(until_idle=True)  # type: ignore[arg-type]


def test_command_job_exit_code_and_logs(store: Store) -> None:
    job = store.metadata.submit_job(
        make_spec(["sh", "-c", "echo out; echo err >&2; exit 3"], name="fails")
    )
    ok = store.metadata.submit_job(make_spec([sys.executable, "-c", "print('fine')"]))
    assert _drain(store, cpus=2) == 2
    failed = store.metadata.get_job(job.id)
    assert failed.state is JobState.FAILED and failed.exit_code == 3
    assert failed.error == "exited with code 3"
    assert store.blobs.get_bytes(failed.log_hash or "") == b"out\nerr\n"
    assert "".join(iter_logs(store, job.id)) == "out\nerr\n"
    assert store.metadata.get_job(ok.id).state is JobState.SUCCEEDED


def test_shell_metacharacters_are_plain_arguments(store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    job = store.metadata.submit_job(make_spec(["echo", f"; touch {marker}", "$(id)"]))
    _drain(store)
    assert not marker.exists()
    assert "".join(iter_logs(store, job.id)) == f"; touch {marker} $(id)\n"


def test_callable_job_links_its_run(store: Store) -> None:
    job = store.metadata.submit_job(
        make_spec(
            target="tests.compute.targets:tracked",
            args={"project": "linked", "value": 0.5},
            project="linked",
            env=TEST_ENV,
        )
    )
    broken = store.metadata.submit_job(make_spec(target="tests.compute.targets:fail", env=TEST_ENV))
    _drain(store)
    done = store.metadata.get_job(job.id)
    assert done.state is JobState.SUCCEEDED and done.run_id is not None
    run = store.metadata.get_run(done.run_id)
    assert run.project == "linked" and run.metrics["value"].latest == 0.5
    failed = store.metadata.get_job(broken.id)
    assert failed.state is JobState.FAILED and failed.exit_code == 1
    assert "this job fails on purpose" in "".join(iter_logs(store, broken.id))


def test_script_run_is_linked_by_process(store: Store) -> None:
    code = "import stackml; r = stackml.start_run(project='scripts'); r.finish()"
    job = store.metadata.submit_job(make_spec([sys.executable, "-c", code], project="scripts"))
    _drain(store)
    done = store.metadata.get_job(job.id)
    assert done.state is JobState.SUCCEEDED, "".join(iter_logs(store, job.id))
    runs = store.metadata.search_runs(project="scripts").runs
    assert [r.id for r in runs] == [done.run_id]


def test_gpus_are_exclusive_and_hidden_from_cpu_jobs(store: Store, tmp_path: Path) -> None:
    ids = []
    for gpus in (1, 1, 0, 2):
        path = tmp_path / f"env-{len(ids)}"
        spec = make_spec(
            target="tests.compute.targets:write_env",
            args={"path": str(path)},
            gpus=gpus,
            env=TEST_ENV,
        )
        ids.append((store.metadata.submit_job(spec).id, path))
    _drain(store, cpus=4, gpus=["0", "1"])
    seen = [dict(line.split("=", 1) for line in p.read_text().splitlines()) for _, p in ids]
    assert {seen[0]["CUDA_VISIBLE_DEVICES"], seen[1]["CUDA_VISIBLE_DEVICES"]} == {"0", "1"}
    assert seen[2]["CUDA_VISIBLE_DEVICES"] == ""
    assert seen[3]["CUDA_VISIBLE_DEVICES"] in {"0,1", "1,0"}
    assert [s["STACKML_JOB_ID"] for s in seen] == [job_id for job_id, _ in ids]


def test_timeout_kills_the_whole_tree(store: Store, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    job = store.metadata.submit_job(make_spec(["sh", "-c", script], timeout=0.5))
    _drain(store)
    done = store.metadata.get_job(job.id)
    assert done.state is JobState.FAILED
    assert "timed out" in (done.error or "")
    child = read_pid(pid_file)
    wait_until(lambda: not pid_alive(child), timeout=10)


def test_cancel_kills_the_whole_tree(store: Store, tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # The leader ignores SIGTERM: cancellation must escalate to SIGKILL.
    script = f"trap '' TERM; sleep 60 & echo $! > {pid_file}; wait; wait"
    job = store.metadata.submit_job(make_spec(["sh", "-c", script]))
    with worker_thread(store):
        child = read_pid(pid_file)
        assert pid_alive(child)
        store.metadata.cancel_job(job.id)
        wait_until(lambda: store.metadata.get_job(job.id).state.is_terminal, timeout=20)
    assert store.metadata.get_job(job.id).state is JobState.CANCELLED
    wait_until(lambda: not pid_alive(child), timeout=10)


def test_distributed_job_gets_torchrun_environment(store: Store, tmp_path: Path) -> None:
    code = (
        "import os; print(os.environ['RANK'], os.environ['WORLD_SIZE'], "
        "os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'].isdigit())"
    )
    job = store.metadata.submit_job(make_spec([sys.executable, "-c", code], nprocs=2))
    failing = store.metadata.submit_job(
        make_spec(
            [
                sys.executable,
                "-c",
                "import os,time; os.environ['RANK']=='1' and exit(4); time.sleep(60)",
            ],
            nprocs=2,
        )
    )
    _drain(store, cpus=2)
    text = "".join(iter_logs(store, job.id))
    assert "[rank 0] 0 2 127.0.0.1 True" not in text  # full log: one section per rank
    assert "===== rank 0 =====\n0 2 127.0.0.1 True" in text
    assert "===== rank 1 =====\n1 2 127.0.0.1 True" in text
    failed = store.metadata.get_job(failing.id)
    assert failed.state is JobState.FAILED and failed.exit_code == 4


def test_local_executor_round_trip(store: Store) -> None:
    executor = LocalExecutor(store)
    job = executor.submit(make_spec(["true"], name="noop"))
    assert executor.run_worker(cpus=1, settings=FAST) == 1
    assert executor.wait(job.id, timeout=5).state is JobState.SUCCEEDED


def test_jobs_never_inherit_the_workers_token(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKML_TOKEN", "sml_worker_secret")
    out = tmp_path / "seen"
    mine = tmp_path / "mine"
    store.metadata.submit_job(make_spec(["sh", "-c", f'echo "[$STACKML_TOKEN]" > {out}']))
    store.metadata.submit_job(
        make_spec(["sh", "-c", f'echo "[$STACKML_TOKEN]" > {mine}'], env={"STACKML_TOKEN": "own"})
    )
    _drain(store)
    assert out.read_text() == "[]\n"
    assert mine.read_text() == "[own]\n"
