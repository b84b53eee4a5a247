"""The MLflow client against ``mlflow server`` and against ``stackml server``, same workload.

Both servers run as subprocesses on loopback over SQLite files in a temporary folder, started
with their defaults (MLflow: ``mlflow server`` with its SQLite backend and artifact proxy;
stackml: ``stackml server``). The same ``MlflowClient`` workload runs against each, in this
process, one after the other:

* ``--runs`` runs (default 1,000), each: ``create_run``, one ``log_batch`` with 10 params and
  100 metric points (one key, steps 0..99), ``set_terminated``;
* then one ``search_runs`` with a metric filter, a param filter and an order, paging through
  every match.

Timed end to end from the first ``create_run`` to the last page of the search (server start-up
excluded). The last line prints both times and the ratio.

    .venv/bin/python benchmarks/bench_mlflow_compat.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PARAMS = 10
POINTS = 100
FILTER = "metrics.loss < 0.5 and params.p0 = 'v0'"
T0 = 1_700_000_000_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 900.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server at {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    _stop(proc)
    raise SystemExit(f"server at {url} did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and every process it started (``mlflow server`` starts about 15)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # job consumers may outlive SIGTERM
    proc.wait(timeout=30)


def workload(url: str, runs: int) -> tuple[float, int]:
    """Run the client workload against ``url``; returns (seconds, runs found by the search)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=url)
    start = time.perf_counter()
    experiment_id = client.create_experiment(f"bench-{int(time.time() * 1000)}")
    for index in range(runs):
        run = client.create_run(experiment_id, run_name=f"run-{index}")
        params = [Param(f"p{k}", f"v{(index + k) % 7}") for k in range(PARAMS)]
        metrics = [
            Metric("loss", 1.0 / (1 + step + index % 10), T0 + step, step) for step in range(POINTS)
        ]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id)
    found = 0
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=FILTER,
            order_by=["metrics.loss ASC"],
            max_results=1000,
            page_token=token,
        )
        found += len(page)
        token = page.token
        if not token:
            break
    return time.perf_counter() - start, found


def bench_mlflow(root: Path, runs: int) -> tuple[float, int]:
    port = _free_port()
    exe = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/health", proc)
        return workload(url, runs)
    finally:
        _stop(proc)


def bench_stackml(root: Path, runs: int) -> tuple[float, int]:
    port = _free_port()
    exe = Path(sys.executable).with_name("stackml")
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--port",
            str(port),
            "--backend-store",
            str(root / "stackml"),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/health", proc)
        return workload(url, runs)
    finally:
        _stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    with tempfile.TemporaryDirectory(prefix="bench-mlflow-compat-") as tmp:
        root = Path(tmp)
        stackml_s, stackml_found = bench_stackml(root, args.runs)
        print(
            f"stackml server: {args.runs} runs + search in {stackml_s:.2f} s "
            f"({stackml_found} runs matched)"
        )
        mlflow_s, mlflow_found = bench_mlflow(root, args.runs)
        print(
            f"mlflow server:  {args.runs} runs + search in {mlflow_s:.2f} s "
            f"({mlflow_found} runs matched)"
        )
    if stackml_found != mlflow_found:
        print(f"warning: the searches found {stackml_found} and {mlflow_found} runs")
    print(
        f"MLflow client workload ({args.runs} runs x {PARAMS} params x {POINTS} points, then a "
        f"search): stackml {stackml_s:.2f} s, mlflow {mlflow_s:.2f} s, "
        f"stackml {mlflow_s / stackml_s:.1f}x faster"
    )


if __name__ == "__main__":
    main()
