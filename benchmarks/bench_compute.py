"""Compute: scheduling overhead of the job queue, RayExecutor against it, and DDP throughput.

Stages, in one process run on one machine:

a. 1,000 no-op jobs (``true``) queued in an embedded store and drained by 2 ``stackml worker``
   processes; the figure is wall time from the first submission until every job is recorded
   finished, divided by the number of jobs (ms/job, end to end, process start included);
b. the same jobs through ``RayExecutor`` on a local Ray (``ray.init``, 2 CPUs), as a ratio to
   the local queue (Ray is the peer a team would otherwise reach for);
c. the digits CNN trained with DDP (gloo, CPU) in 2 processes against 1, in samples/s. On a
   2-core machine the 2-process figure includes the all-reduce of every step and competes for
   the same cores: it is reported as measured, not as a scaling claim.

Usage: python benchmarks/bench_compute.py [--jobs N] [--ray-jobs N] [--epochs N]
The last line prints the figures and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stage_local(jobs: int, root: Path) -> float:
    """ms/job for ``jobs`` no-op jobs through 2 worker processes."""
    from stackml.compute import make_spec
    from stackml.store import open_store
    from stackml.store.jobs_base import JobState

    store = open_store(str(root))
    spec = make_spec(["true"], name="noop", cpus=0.25)
    stackml_bin = Path(sys.executable).with_name("stackml")
    started = time.perf_counter()
    for _ in range(jobs):
        store.metadata.submit_job(spec)
    workers = [
        subprocess.Popen(
            [
                str(stackml_bin),
                "--tracking-uri",
                str(root),
                "worker",
                "--cpus",
                "2",
                "--poll",
                "0.01",
                "--until-idle",
            ],
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.wait()
    elapsed = time.perf_counter() - started
    done = store.metadata.list_jobs(state=JobState.SUCCEEDED, limit=10_000)
    store.close()
    if len(done) != jobs:
        raise SystemExit(f"only {len(done)} of {jobs} jobs succeeded")
    return elapsed / jobs * 1000


def stage_ray(jobs: int, root: Path) -> float | None:
    """ms/job for ``jobs`` no-op jobs through RayExecutor (None without Ray)."""
    try:
        import ray
    except ImportError:
        return None
    from stackml.compute import make_spec
    from stackml.compute.ray_executor import RayExecutor
    from stackml.store import open_store

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    store = open_store(str(root))
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=100 * 1024 * 1024,
            _temp_dir=temp,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
        executor = RayExecutor(store)
        spec = make_spec(["true"], name="noop", cpus=0.25)
        started = time.perf_counter()
        ids = [executor.submit(spec).id for _ in range(jobs)]
        executor.join()
        elapsed = time.perf_counter() - started
        states = {store.metadata.get_job(job_id).state.value for job_id in ids}
        if states != {"succeeded"}:
            raise SystemExit(f"Ray jobs ended {states}")
        return elapsed / jobs * 1000
    finally:
        ray.shutdown()
        store.close()
        shutil.rmtree(temp, ignore_errors=True)


def stage_ddp(epochs: int) -> tuple[float, float]:
    """Samples/s of the digits CNN with 1 and with 2 DDP processes."""
    from stackml.training import launch
    from stackml.training.digits_ddp import train_digits

    rates = []
    for nprocs in (1, 2):
        result = launch(train_digits, nprocs=nprocs, args=(epochs, 64, 0.1, 0, False))
        samples = sum(r["samples"] for r in result.results)
        seconds = max(r["seconds"] for r in result.results)
        rates.append(samples / seconds)
    return rates[0], rates[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--ray-jobs", type=int, default=None, help="default: --jobs")
    parser.add_argument("--epochs", type=int, default=5)
    options = parser.parse_args()
    ray_jobs = options.ray_jobs or options.jobs
    work = Path(tempfile.mkdtemp(prefix="bench-compute-"))
    os.environ.pop("STACKML_TRACKING_URI", None)
    try:
        local_ms = stage_local(options.jobs, work / "local")
        print(f"local queue, 2 workers: {options.jobs} no-op jobs, {local_ms:.1f} ms/job")
        ray_ms = stage_ray(ray_jobs, work / "ray")
        if ray_ms is None:
            print("RayExecutor: skipped (pip install 'stackml[ray]')")
        else:
            print(f"RayExecutor, 2 CPUs:   {ray_jobs} no-op jobs, {ray_ms:.1f} ms/job")
        one, two = stage_ddp(options.epochs)
        print(f"DDP digits CNN (gloo):  1 process {one:,.0f} samples/s, 2 processes {two:,.0f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ray_ratio = "n/a" if ray_ms is None else f"{ray_ms / local_ms:.2f}x"
    print(
        f"local {local_ms:.1f} ms/job (target < 50) | ray {ray_ms or float('nan'):.1f} ms/job, "
        f"ray/local {ray_ratio} | ddp 2p/1p {two / one:.2f}x ({two:,.0f} vs {one:,.0f} samples/s)"
    )


if __name__ == "__main__":
    main()
