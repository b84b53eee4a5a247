"""Sweeps against raw Optuna: per-trial overhead, 2 agents vs 1, TPE vs random search.

Run: ``.venv/bin/python benchmarks/bench_tuning.py [--trials 500] [--sleep 0.4]``

(a) overhead: the same trivial objective, ``--trials`` trials, through a stackml sweep (the
    study in Optuna's RDB storage on SQLite beside the metadata store, every trial a tracked
    child run with its params and final metric, mirrored into the store, kept alive by the
    agent's heartbeat) and through raw Optuna ``study.optimize`` with no tracking and no
    heartbeat, on its own SQLite RDB storage twice: as Optuna opens it (rollback journal, a
    disk sync per commit) and tuned the way stackml tunes the study's file (WAL,
    ``synchronous=NORMAL``), the stronger peer. Raw Optuna with heartbeats on is measured for
    reference. The difference per trial is stackml's overhead, in wall time and in the
    process's CPU time (all threads; steadier than wall time on a loaded machine). Target:
    under 10 ms against the tuned peer.
(b) throughput: a sleep-dominated objective (``--sleep`` s per trial) run by one agent process,
    then by two agent processes at once (``stackml sweep agent``); throughput is trials per
    second between the first trial's start and the last trial's end. Target: at least 1.7x.
(c) sample efficiency: trials that TPE and random search each need (through stackml sweeps)
    to get the Branin function below ``--target`` (its minimum is 0.398), over 5 seeds;
    a search that never gets there within ``--max-trials`` counts as that many.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import optuna

import stackml
from stackml.tuning import Trial, create_sweep, optimize, run_agent, trials
from stackml.tuning.study import tune_sqlite

ROOT = Path(__file__).resolve().parents[1]
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)


def trivial(trial: Trial) -> float:
    """The objective of (a): one float parameter, no work."""
    return (trial.params["x"] - 2.0) ** 2


def sleepy(trial: Trial) -> float:
    """The objective of (b): sleeps, then a trivial value."""
    time.sleep(float(os.environ.get("BENCH_SLEEP", "0.4")))
    return (trial.params["x"] - 2.0) ** 2


def branin(x: float, y: float) -> float:
    """The Branin-Hoo function on [-5, 10] x [0, 15]; global minimum 0.397887."""
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s


class Cost(NamedTuple):
    """Milliseconds per trial: wall-clock and CPU time of the process (all its threads)."""

    wall: float
    cpu: float


def _timed(n: int, fn: Callable[[], object]) -> Cost:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return Cost((time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000)


def _raw(n: int, db: Path, heartbeat: int | None, *, tuned: bool = False) -> Cost:
    """Per-trial cost of plain Optuna on its own SQLite RDB storage.

    ``tuned``: the file in WAL mode with ``synchronous=NORMAL``, as stackml opens a study's.
    """
    kwargs = {} if heartbeat is None else {"heartbeat_interval": heartbeat, "grace_period": 30}
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}", **kwargs)  # type: ignore[arg-type]
    if tuned:
        tune_sqlite(storage)
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    cost = _timed(
        n,
        lambda: study.optimize(lambda t: (t.suggest_float("x", -5, 5) - 2.0) ** 2, n_trials=n),
    )
    storage.engine.dispose()
    return cost


def stage_overhead(n: int, work: Path) -> dict[str, Cost]:
    """Per-trial cost of stackml, raw Optuna (plain and tuned SQLite), and with heartbeats."""
    costs = {
        "raw": _raw(n, work / "raw.db", None),
        "tuned": _raw(n, work / "raw-tuned.db", None, tuned=True),
        "heartbeats": _raw(n, work / "raw-hb.db", 10),
    }
    uri = str(work / "store")
    spec = {
        "name": "overhead",
        "method": "random",
        "space": {"x": {"type": "float", "low": -5.0, "high": 5.0}},
        "objective": {"metric": "loss", "direction": "minimize"},
        "budget": {"trials": n},
        "seed": 0,
    }
    sweep = create_sweep(spec, tracking_uri=uri)

    def sweep_trials() -> None:
        run_agent(sweep.id, trivial, tracking_uri=uri, wait_for_others_s=0)
        stackml.flush()

    costs["stackml"] = _timed(n, sweep_trials)
    return costs


def _throughput(uri: str, sweep_id: str) -> float:
    done = [t for t in trials(sweep_id, tracking_uri=uri) if t.state == "complete"]
    study = optuna.load_study(
        study_name=f"stackml-{sweep_id}",
        storage=f"sqlite:///{Path(uri) / '.stackml' / 'optuna.db'}",
    )
    frozen = [t for t in study.trials if t.datetime_complete is not None]
    first = min(t.datetime_start for t in frozen)
    last = max(t.datetime_complete for t in frozen)
    return len(done) / (last - first).total_seconds()


def stage_agents(count: int, sleep: float, work: Path) -> tuple[float, float]:
    """Trials per second with one agent process and with two."""
    stackml_cli = str(Path(sys.executable).parent / "stackml")
    env = dict(
        os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}", BENCH_SLEEP=str(sleep)
    )
    rates = []
    for agents in (1, 2):
        uri = str(work / f"agents{agents}")
        spec = {
            "name": f"agents-{agents}",
            "method": "random",
            "target": "bench_tuning:sleepy",
            "space": {"x": {"type": "float", "low": -5.0, "high": 5.0}},
            "objective": {"metric": "loss", "direction": "minimize"},
            "budget": {"trials": count},
        }
        sweep = create_sweep(spec, tracking_uri=uri)
        procs = [
            subprocess.Popen(
                [stackml_cli, "--tracking-uri", uri, "sweep", "agent", sweep.id],
                env=env,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(agents)
        ]
        for proc in procs:
            proc.wait(timeout=600)
        rates.append(_throughput(uri, sweep.id))
    return rates[0], rates[1]


def stage_efficiency(target: float, max_trials: int, work: Path) -> dict[str, list[int]]:
    """Trials each method needs to reach ``target`` on Branin, per seed."""
    needed: dict[str, list[int]] = {"tpe": [], "random": []}
    for method in needed:
        for seed in range(5):
            uri = str(work / f"eff-{method}-{seed}")
            reached: list[int] = []

            def objective(trial: Trial, reached: list[int] = reached) -> float:
                value = branin(trial.params["x"], trial.params["y"])
                if value <= target and not reached:
                    reached.append(trial.number + 1)
                return value

            spec = {
                "name": f"{method}-{seed}",
                "method": method,
                "space": {
                    "x": {"type": "float", "low": -5.0, "high": 10.0},
                    "y": {"type": "float", "low": 0.0, "high": 15.0},
                },
                "objective": {"metric": "branin", "direction": "minimize"},
                "budget": {"trials": max_trials},
                "seed": seed,
            }
            optimize(spec, objective, tracking_uri=uri)
            needed[method].append(reached[0] if reached else max_trials)
    return needed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--agent-trials", type=int, default=16)
    parser.add_argument("--sleep", type=float, default=0.4)
    parser.add_argument("--target", type=float, default=1.0)
    parser.add_argument("--max-trials", type=int, default=100)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tuning-"))
    os.environ.pop("STACKML_TRACKING_URI", None)
    os.chdir(work)
    try:
        costs = stage_overhead(options.trials, work)
        print(
            f"(a) {options.trials} trivial trials, ms/trial wall (cpu): "
            + ", ".join(f"{k} {c.wall:.1f} ({c.cpu:.1f})" for k, c in costs.items())
        )
        one, two = stage_agents(options.agent_trials, options.sleep, work)
        print(f"(b) {options.sleep}s trials: 1 agent {one:.2f} trials/s, 2 agents {two:.2f}")
        needed = stage_efficiency(options.target, options.max_trials, work)
        tpe_n, random_n = needed["tpe"], needed["random"]
        print(f"(c) trials to Branin <= {options.target}: tpe {tpe_n}, random {random_n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tpe, rnd = statistics.median(needed["tpe"]), statistics.median(needed["random"])
    ours, tuned, raw = costs["stackml"], costs["tuned"], costs["raw"]
    print(
        f"overhead {ours.wall - tuned.wall:.1f} ms/trial wall, {ours.cpu - tuned.cpu:.1f} ms CPU "
        f"against raw Optuna on tuned SQLite (target < 10 ms); "
        f"{ours.wall - raw.wall:.1f} ms wall against raw Optuna on plain SQLite "
        f"({ours.wall / raw.wall:.2f}x) "
        f"| 2 agents/1 agent {two / one:.2f}x (target >= 1.7) "
        f"| median trials to target: tpe {tpe:.0f} vs random {rnd:.0f} ({rnd / tpe:.2f}x)"
    )


if __name__ == "__main__":
    main()
