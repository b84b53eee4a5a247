"""Web UI response times: chart data of a 1,000,000-point metric and the runs table of 10,000
runs, from a live ``stackml server``, against the same calls on a live ``mlflow server``.

Both servers run as subprocesses on loopback over SQLite files holding the same data: one run
with a ``loss`` metric of ``--points`` points, and ``--runs`` runs with two params and an
``acc`` metric each. stackml's store is filled through its own API; MLflow's tables are filled
with bulk inserts through MLflow's own ORM models (its client would take hours for a million
points). Both servers run at once; each figure is the median of ``--repeat`` HTTP calls after a
warm-up call, and the runs-table calls of the two tools alternate, so that on a shared machine
both see the same load (the load average is printed before and after); each timed table call
follows an untimed call to the same server, so neither tool is timed right after the other's
work (which costs the next request 2-4 ms on this VM, whichever server gets it). Calls go
through one keep-alive connection per server with the standard library's ``http.client``: a
heavier client (httpx spends about half a millisecond per call of its own here) would add the
same constant to both tools and hide the servers' difference.

Compared calls:

* chart data: stackml ``GET /api/v1/runs/{id}/metrics/series?max_points=1000`` (downsampled on
  the server, what the run page's chart reads) against MLflow ``GET metrics/get-history`` (what
  MLflow's UI reads; it returns every point);
* runs table: stackml's HTML page ``GET /runs`` (first page of 50, filtered, sorted) against
  MLflow ``POST runs/search`` with the same page size, filter and order (JSON only, no page);
  also printed, not compared: the filtered and sorted table as the UI asks for it once the page
  is open (an HTMX request: the table region only, ``*_htmx``).

Usage: ``python benchmarks/bench_ui.py [--points 1000000] [--runs 10000] [--repeat 15]``
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json as jsonlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import httpx
import numpy as np

FILTER_STACKML = "metrics.acc > 0.5 and params.opt = 'adam'"
FILTER_MLFLOW = "metrics.acc > 0.5 and params.opt = 'adam'"
SORTED = {"sort": "metrics.`acc`", "dir": "desc"}
HTMX = {"HX-Request": "true"}  # what the UI sends once the page is open
PAGE = 50
T0 = 1_700_000_000_000
SETTLE_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
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
    proc.kill()
    raise SystemExit(f"server at {url} did not become ready")


class Reply(NamedTuple):
    """Status and body of one call."""

    status: int
    body: bytes

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise RuntimeError(f"HTTP {self.status}: {self.body[:200]!r}")


class Client:
    """One keep-alive HTTP/1.1 connection (``http.client``), with httpx-like ``get``/``post``."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server closed an idle keep-alive connection (uvicorn after 5 s): reconnect.
            self.conn.close()
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
        return Reply(response.status, response.read())

    def get(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        query = f"?{urlencode(params, doseq=True)}" if params else ""
        return self._call("GET", path + query, None, headers or {})

    def post(self, path: str, json: dict[str, Any]) -> Reply:
        body = jsonlib.dumps(json).encode()
        return self._call("POST", path, body, {"Content-Type": "application/json"})

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _timed(call: Callable[[], Reply]) -> float:
    start = time.perf_counter()
    call().raise_for_status()
    return time.perf_counter() - start


def _median_ms(call: Callable[[], Reply], repeat: int) -> float:
    call().raise_for_status()  # warm caches and connections
    return statistics.median(_timed(call) for _ in range(repeat)) * 1000


def _paired_median_ms(
    ours: Callable[[], Reply], theirs: Callable[[], Reply], repeat: int
) -> tuple[float, float]:
    """Medians of two calls timed in alternation (each warmed first).

    Each timed call follows an untimed call to the same server (skipped for calls slower than
    a second, where it would not matter), so neither tool is timed right after the other one's
    work: on this VM a request that arrives after the other server's 25-40 ms of CPU pays
    2-4 ms extra, whichever server it goes to.
    """
    ours().raise_for_status()
    theirs().raise_for_status()
    ours_ms: list[float] = []
    theirs_ms: list[float] = []
    for _ in range(repeat):
        for call, times in ((ours, ours_ms), (theirs, theirs_ms)):
            if not times or times[-1] < 1.0:
                call()
            times.append(_timed(call))
    return statistics.median(ours_ms) * 1000, statistics.median(theirs_ms) * 1000


def _series(points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = np.arange(points, dtype=np.int64)
    values = np.exp(-steps / (points / 5)) + 0.01 * np.sin(steps / 11.0)
    return steps, T0 + steps, values


def fill_stackml(root: Path, points: int, runs: int) -> str:
    from stackml.store import open_store
    from stackml.store.entities import MetricColumns, MetricPoint

    store = open_store(str(root))
    meta = store.metadata
    long_run = meta.create_run("chart", name="long")
    steps, stamps, values = _series(points)
    for lo in range(0, points, 100_000):  # the background writer's batch size
        hi = min(points, lo + 100_000)
        cols = MetricColumns(steps[lo:hi].tolist(), stamps[lo:hi].tolist(), values[lo:hi].tolist())
        meta.log_metric_columns(long_run.id, {"loss": cols})
    for i in range(runs):
        run = meta.create_run(
            "table",
            name=f"run-{i:05d}",
            params={"opt": "adam" if i % 2 else "sgd", "lr": str(i)},
            start_time=T0 + i,
        )
        meta.log_metrics(run.id, [MetricPoint("acc", (i % 1000) / 1000, 0, T0)])
    store.close()
    return long_run.id


def fill_mlflow(db: Path, points: int, runs: int) -> tuple[str, str]:
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", str(db.parent / "mlartifacts"))
    chart_exp = store.create_experiment("chart")
    table_exp = store.create_experiment("table")
    long_id = store.create_run(chart_exp, "bench", T0, [], "long").info.run_id
    steps, stamps, values = _series(points)
    run_rows, param_rows, metric_rows = [], [], []
    for i in range(runs):
        run_id = uuid.uuid4().hex
        run_rows.append(
            {
                "run_uuid": run_id,
                "name": f"run-{i:05d}",
                "experiment_id": int(table_exp),
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": T0 + i,
                "end_time": T0 + i + 1,
                "lifecycle_stage": "active",
                "source_type": "LOCAL",
                "source_name": "",
                "entry_point_name": "",
                "source_version": "",
                "artifact_uri": "",
            }
        )
        param_rows += [
            {"run_uuid": run_id, "key": "opt", "value": "adam" if i % 2 else "sgd"},
            {"run_uuid": run_id, "key": "lr", "value": str(i)},
        ]
        metric_rows.append(
            {
                "run_uuid": run_id,
                "key": "acc",
                "value": (i % 1000) / 1000,
                "timestamp": T0,
                "step": 0,
                "is_nan": False,
            }
        )
    with store.ManagedSessionMaker() as session:
        session.bulk_insert_mappings(SqlRun, run_rows)
        session.bulk_insert_mappings(SqlParam, param_rows)
        session.bulk_insert_mappings(SqlMetric, metric_rows)
        session.bulk_insert_mappings(SqlLatestMetric, metric_rows)
        for lo in range(0, points, 100_000):
            hi = min(points, lo + 100_000)
            session.bulk_insert_mappings(
                SqlMetric,
                [
                    {
                        "run_uuid": long_id,
                        "key": "loss",
                        "value": v,
                        "timestamp": t,
                        "step": s,
                        "is_nan": False,
                    }
                    for s, t, v in zip(
                        steps[lo:hi].tolist(),
                        stamps[lo:hi].tolist(),
                        values[lo:hi].tolist(),
                        strict=True,
                    )
                ],
            )
        last = points - 1
        session.bulk_insert_mappings(
            SqlLatestMetric,
            [
                {
                    "run_uuid": long_id,
                    "key": "loss",
                    "value": float(values[last]),
                    "timestamp": int(stamps[last]),
                    "step": last,
                    "is_nan": False,
                }
            ],
        )
    store.engine.dispose()
    return long_id, table_exp


@contextlib.contextmanager
def _server(args: list[str], health: str) -> Iterator[str]:
    """Start a server subprocess, wait for ``health`` to answer, yield its base URL."""
    port = _free_port()
    command = [a.replace("{port}", str(port)) for a in args]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}{health}", proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def stackml_server(root: Path) -> contextlib.AbstractContextManager[str]:
    exe = Path(sys.executable).with_name("stackml")
    args = [str(exe), "server", "--port", "{port}", "--backend-store", str(root)]
    return _server([*args, "--log-level", "warning"], "/health")


def mlflow_server(db: Path) -> contextlib.AbstractContextManager[str]:
    exe = Path(sys.executable).with_name("mlflow")
    args = [
        str(exe),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        "1",
        "--default-artifact-root",
        str(db.parent / "mlartifacts"),
    ]
    return _server(args, "/health")


def stackml_calls(c: Client, run_id: str, points: int) -> dict[str, Callable[[], Reply]]:
    """The calls timed on stackml, by figure name (the zoom is 10,000 steps mid-series)."""
    series = f"/api/v1/runs/{run_id}/metrics/series"
    middle = points // 2
    zoom = {"key": "loss", "max_points": 1000, "start_step": middle, "end_step": middle + 10_000}
    table = {"project": "table", "limit": PAGE}
    return {
        "run_page": lambda: c.get(f"/runs/{run_id}"),
        "chart": lambda: c.get(series, params={"key": "loss", "max_points": 1000}),
        "chart_zoom": lambda: c.get(series, params=zoom),
        "table": lambda: c.get("/runs", params=table),
        "table_filtered": lambda: c.get("/runs", params={**table, "filter": FILTER_STACKML}),
        "table_sorted": lambda: c.get("/runs", params={**table, **SORTED}),
        "table_filtered_htmx": lambda: c.get(
            "/runs", params={**table, "filter": FILTER_STACKML}, headers=HTMX
        ),
        "table_sorted_htmx": lambda: c.get("/runs", params={**table, **SORTED}, headers=HTMX),
    }


def mlflow_calls(c: Client, api: str, run_id: str, exp_id: str) -> dict[str, Callable[[], Reply]]:
    """The same views through MLflow's REST API, by the stackml figure they compare with."""

    def search(**extra: object) -> Reply:
        body = {"experiment_ids": [exp_id], "max_results": PAGE, **extra}
        return c.post(f"{api}/runs/search", json=body)

    return {
        "chart": lambda: c.get(
            f"{api}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}
        ),
        "table": search,
        "table_filtered": lambda: search(filter=FILTER_MLFLOW),
        "table_sorted": lambda: search(order_by=["metrics.acc DESC"]),
    }


def _load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    try:
        import mlflow  # noqa: F401

        have_mlflow = True
    except ImportError:
        have_mlflow = False
        print("mlflow not installed (pip install -e '.[bench]'): no comparison")
    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    try:
        start = time.perf_counter()
        run_id = fill_stackml(work / "stackml", args.points, args.runs)
        print(f"stackml store filled in {time.perf_counter() - start:.1f} s", flush=True)
        if have_mlflow:
            start = time.perf_counter()
            ml_run, ml_exp = fill_mlflow(work / "mlflow.db", args.points, args.runs)
            print(f"mlflow store filled in {time.perf_counter() - start:.1f} s", flush=True)
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(stackml_server(work / "stackml"))
            c = stack.enter_context(Client(url, timeout=120))
            ours_calls = stackml_calls(c, run_id, args.points)
            theirs_calls: dict[str, Callable[[], Reply]] = {}
            if have_mlflow:
                ml_url = stack.enter_context(mlflow_server(work / "mlflow.db"))
                ml = stack.enter_context(Client(ml_url, timeout=900))
                theirs_calls = mlflow_calls(ml, "/api/2.0/mlflow", ml_run, ml_exp)
            # MLflow's server starts job-queue consumer processes after it answers: let such
            # start-up work finish before timing anything.
            time.sleep(SETTLE_S)
            print(_load(), flush=True)
            ours: dict[str, float] = {}
            theirs: dict[str, float] = {}
            for name, call in ours_calls.items():
                peer = theirs_calls.get(name)
                if peer is None:
                    ours[name] = _median_ms(call, args.repeat)
                elif name == "chart":  # MLflow's full history is slow: fewer repeats
                    ours[name] = _median_ms(call, args.repeat)
                    theirs[name] = _median_ms(peer, max(3, args.repeat // 5))
                else:  # interleaved, so both see the same load on a shared machine
                    ours[name], theirs[name] = _paired_median_ms(call, peer, args.repeat)
                line = f"stackml {name:15s} {ours[name]:9.1f} ms"
                if name in theirs:
                    line += f"   mlflow {theirs[name]:9.1f} ms  ({theirs[name] / ours[name]:.0f}x)"
                print(line, flush=True)
            print(_load(), flush=True)
        if not have_mlflow:
            print(f"RESULT chart {ours['chart']:.1f} ms, table {ours['table']:.1f} ms")
            return
        tables = ("table", "table_filtered", "table_sorted")
        worst_table = max(ours[k] for k in tables)
        table_ratio = min(theirs[k] / ours[k] for k in tables)
        chart_ratio = theirs["chart"] / ours["chart"]
        print(
            f"RESULT {args.points:,}-point chart data: stackml {ours['chart']:.1f} ms vs "
            f"mlflow get-history {theirs['chart']:.0f} ms ({chart_ratio:.0f}x); "
            f"runs table over {args.runs:,} runs: stackml <= {worst_table:.1f} ms vs mlflow "
            f"runs/search (>= {table_ratio:.1f}x slower); run page {ours['run_page']:.1f} ms"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
