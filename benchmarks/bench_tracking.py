"""Tracking throughput and run search: stackml against MLflow, in one run on one machine.

Stages (each logging stage runs in its own subprocess so its peak memory is its own):

a. stackml embedded: 1,000,000 metric points (10 keys x 100,000 steps) into one run, one
   ``log_metrics`` call per step, timed until ``stackml.flush()`` returns;
b. the same workload through a live ``stackml server`` on loopback;
c. MLflow with its SQLite backend on the same workload, scaled down, reported per point,
   synchronous and asynchronous logging (the faster one is the peer figure);
d. ``search_runs`` with a metric filter and an order over 10,000 runs in each tool.

Usage: python benchmarks/bench_tracking.py [--steps N] [--mlflow-steps N] [--runs N]
The last line prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEYS = [f"metric_{i}" for i in range(10)]
SEARCH_FILTER = "metrics.acc > 0.5 and params.opt = 'adam'"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_stackml(steps: int) -> dict[str, float]:
    """Log KEYS x steps points with the stackml SDK (store chosen by the environment)."""
    import stackml

    run = stackml.start_run(project="bench", capture_environment=False)
    values = {key: 0.0 for key in KEYS}
    start = time.perf_counter()
    for step in range(steps):
        for i, key in enumerate(KEYS):
            values[key] = step * 0.001 + i
        run.log_metrics(values, step=step)
    stackml.flush()
    elapsed = time.perf_counter() - start
    run.finish()
    stored = len(stackml.metric_history(run.id, KEYS[-1])) * len(KEYS)
    return {
        "points": steps * len(KEYS),
        "stored": stored,
        "seconds": elapsed,
        "peak_rss_mb": _peak_rss_mb(),
    }


def stage_mlflow(steps: int, mode: str) -> dict[str, float]:
    """Log KEYS x steps points with MLflow's fluent API on a SQLite backend."""
    if mode == "async":
        os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "true"
        os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = "1"
    import mlflow

    workdir = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    with mlflow.start_run():
        values = {key: 0.0 for key in KEYS}
        start = time.perf_counter()
        for step in range(steps):
            for i, key in enumerate(KEYS):
                values[key] = step * 0.001 + i
            mlflow.log_metrics(values, step=step, synchronous=(mode == "sync"))
        if mode == "async":
            mlflow.flush_async_logging()
        elapsed = time.perf_counter() - start
    return {"points": steps * len(KEYS), "seconds": elapsed, "peak_rss_mb": _peak_rss_mb()}


def _run_stage(args: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"stage {args} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    stackml_bin = Path(sys.executable).with_name("stackml")
    proc = subprocess.Popen(
        [
            str(stackml_bin),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store",
            str(workdir / "server-store"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("stackml server did not become healthy")


def search_stackml(n_runs: int, workdir: Path) -> float:
    """Create n_runs runs in an embedded store, then time one filtered, ordered search."""
    from stackml.store import MetricPoint, open_store

    store = open_store(str(workdir / "search-store"))
    meta = store.metadata
    for i in range(n_runs):
        run = meta.create_run("search", params={"opt": "adam" if i % 2 else "sgd", "lr": str(i)})
        meta.log_metrics(run.id, [MetricPoint("acc", (i % 1000) / 1000, 0, 0)])
    return _time_best(
        lambda: meta.search_runs(
            project="search", filter=SEARCH_FILTER, order_by=["metrics.acc DESC"], limit=100
        )
    )


def search_mlflow(n_runs: int, workdir: Path) -> float:
    """The same runs in MLflow's SQLite store, then the same search."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow-search.db'}")
    exp = client.create_experiment("search")
    for i in range(n_runs):
        run = client.create_run(exp)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", (i % 1000) / 1000, 0, 0)],
            params=[Param("opt", "adam" if i % 2 else "sgd"), Param("lr", str(i))],
        )
    return _time_best(
        lambda: client.search_runs(
            [exp], filter_string=SEARCH_FILTER, order_by=["metrics.acc DESC"], max_results=100
        )
    )


def _time_best(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm caches and connections
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--mlflow-steps", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:  # inside a subprocess: run one stage, print JSON
        kind, _, mode = args.stage.partition(":")
        result = stage_stackml(args.steps) if kind == "stackml" else stage_mlflow(args.steps, mode)
        print(json.dumps(result))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKML_")}
    env["STACKML_TRACKING_URI"] = str(workdir / "embedded")
    embedded = _run_stage(["--stage", "stackml", "--steps", str(args.steps)], env)

    server, url = _start_server(workdir)
    try:
        env["STACKML_TRACKING_URI"] = url
        remote = _run_stage(["--stage", "stackml", "--steps", str(args.steps)], env)
    finally:
        server.terminate()
        server.wait(10)

    mlflow_env = {**env, "MLFLOW_ALLOW_FILE_STORE": "true"}
    mlflow_sync = _run_stage(
        ["--stage", "mlflow:sync", "--steps", str(args.mlflow_steps)], mlflow_env
    )
    mlflow_async = _run_stage(
        ["--stage", "mlflow:async", "--steps", str(args.mlflow_steps)], mlflow_env
    )

    def rate(result: dict[str, float]) -> float:
        return result["points"] / result["seconds"]

    peer = max(rate(mlflow_sync), rate(mlflow_async))
    rows = [
        ("stackml embedded", embedded),
        ("stackml via server", remote),
        ("mlflow sqlite (sync)", mlflow_sync),
        ("mlflow sqlite (async)", mlflow_async),
    ]
    print(f"{'logging':<24}{'points':>10}{'points/s':>14}{'peak RSS MB':>14}")
    for label, result in rows:
        print(
            f"{label:<24}{int(result['points']):>10}{rate(result):>14,.0f}{result['peak_rss_mb']:>14.0f}"
        )
    for label, result in rows[:2]:
        if result.get("stored") != result["points"]:
            print(f"WARNING: {label} stored {result.get('stored')} of {result['points']} points")

    ours = search_stackml(args.runs, workdir)
    theirs = search_mlflow(args.runs, workdir)
    print(
        f"search over {args.runs} runs: stackml {ours * 1000:.1f} ms, mlflow {theirs * 1000:.1f} ms"
    )
    print(
        f"ratios: embedded/mlflow {rate(embedded) / peer:.0f}x, server/mlflow "
        f"{rate(remote) / peer:.0f}x, search mlflow/stackml {theirs / ours:.1f}x, "
        f"embedded {rate(embedded):,.0f} points/s"
    )


if __name__ == "__main__":
    main()
