"""Faults with real worker processes: ``kill -9`` mid-job, and two workers sharing 200 jobs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from stackml.compute import make_spec
from stackml.compute.worker import JobWorker
from stackml.store import Store
from stackml.store.jobs_base import JobState
from tests.cli.support import STACKML_BIN
from tests.compute.conftest import FAST, pid_alive, read_pid, wait_until


def _start_worker(root: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(STACKML_BIN),
            "--tracking-uri",
            str(root),
            "worker",
            "--lease",
            "1",
            "--heartbeat",
            "0.1",
            "--poll",
            "0.02",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("retries", [1, 0])
def test_kill_9_of_a_worker_requeues_or_fails_its_job(
    store: Store, _isolated_env: Path, tmp_path: Path, retries: int
) -> None:
    pid_file = tmp_path / "job.pid"
    # The first attempt hangs; a second attempt (if any) succeeds at once.
    script = f'if [ "$STACKML_JOB_ATTEMPT" = 1 ]; then echo $$ > {pid_file}; sleep 60; fi'
    job = store.metadata.submit_job(make_spec(["sh", "-c", script], max_retries=retries))
    worker = _start_worker(_isolated_env, "--cpus", "1")
    try:
        job_pid = read_pid(pid_file)
        assert store.metadata.get_job(job.id).state is JobState.RUNNING
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        assert worker.stderr is not None
        worker.stderr.close()
    # The job's process dies with its worker: it never runs on unsupervised.
    wait_until(lambda: not pid_alive(job_pid), timeout=10)
    # Once the lease expires, whoever looks next re-queues or fails the job.
    wait_until(lambda: store.metadata.get_job(job.id).state is not JobState.RUNNING, timeout=15)
    after = store.metadata.get_job(job.id)
    assert "heartbeat" in (after.error or "")
    if retries:
        assert after.state is JobState.QUEUED
        JobWorker(store, settings=FAST).run(until_idle=True)
        final = store.metadata.get_job(job.id)
        assert final.state is JobState.SUCCEEDED and final.attempts == 2
    else:
        assert after.state is JobState.FAILED and after.attempts == 1


@pytest.mark.slow
def test_two_workers_run_200_jobs_exactly_once(
    store: Store, _isolated_env: Path, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger"
    rng = random.Random(7)
    ids = []
    for _ in range(200):
        pause = f"0.0{rng.randint(0, 5)}"
        script = f'echo "$STACKML_JOB_ID" >> {ledger}; sleep {pause}'
        ids.append(store.metadata.submit_job(make_spec(["sh", "-c", script], cpus=0.5)).id)
    workers = [_start_worker(_isolated_env, "--cpus", "2", "--until-idle") for _ in range(2)]
    try:
        for worker in workers:
            assert worker.wait(timeout=240) == 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            assert worker.stderr is not None
            worker.stderr.close()
    counts = Counter(ledger.read_text().split())
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    states = Counter(j.state for j in store.metadata.list_jobs(limit=1000))
    assert states == {JobState.SUCCEEDED: 200}
    used = {j.worker_id for j in store.metadata.list_jobs(limit=1000)}
    assert used == {None}  # finished jobs hold no worker


def test_worker_stopped_by_sigterm_hands_jobs_back(
    store: Store, _isolated_env: Path, tmp_path: Path
) -> None:
    pid_file = tmp_path / "job.pid"
    job = store.metadata.submit_job(make_spec(["sh", "-c", f"echo $$ > {pid_file}; sleep 60"]))
    worker = _start_worker(_isolated_env)
    job_pid = read_pid(pid_file)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert worker.stderr is not None
    worker.stderr.close()
    wait_until(lambda: not pid_alive(job_pid), timeout=10)
    back = store.metadata.get_job(job.id)
    assert back.state is JobState.QUEUED and back.attempts == 0
