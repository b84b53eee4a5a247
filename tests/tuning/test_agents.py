"""Agents in separate processes: shared studies, killed agents, resumes, compute launches."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stackml.store.entities import RunStatus
from stackml.tracking import get_run, get_store
from stackml.tuning import create_sweep, launch_sweep, run_agent, trials
from tests.tuning.conftest import definition

ROOT = Path(__file__).resolve().parents[2]
STACKML = str(Path(sys.executable).parent / "stackml")

GRID = {
    "a": {"type": "int", "low": 0, "high": 3, "step": 1},
    "b": {"type": "categorical", "choices": [0.0, 0.5, 1.0]},
}


def _env(uri: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(STACKML_TRACKING_URI=uri, PYTHONPATH=str(ROOT), **extra)
    return env


def _agent(uri: str, sweep_id: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [STACKML, "sweep", "agent", sweep_id, *args],
        env=_env(uri, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _ran(output: str) -> int:
    found = re.search(r"ran (\d+) trials", output)
    assert found, output
    return int(found.group(1))


def _grid_with_two_agents(uri: str) -> None:
    spec = definition(
        "grid2", method="grid", space=GRID, target="tests.tuning.objectives:grid_point"
    )
    spec["budget"] = {"trials": 50}
    sweep = create_sweep(spec, tracking_uri=uri)
    agents = [_agent(uri, sweep.id) for _ in range(2)]
    outputs = [a.communicate(timeout=240)[0] for a in agents]
    assert [a.returncode for a in agents] == [0, 0], outputs
    counts = [_ran(o) for o in outputs]
    assert sum(counts) == 12 and min(counts) >= 1, counts  # both agents took part
    found = trials(sweep.id, tracking_uri=uri)
    assert [t.state for t in found] == ["complete"] * 12
    points = [(t.params["a"], t.params["b"]) for t in found]
    assert len(set(points)) == 12  # no grid point twice
    meta = get_store(uri).metadata
    assert meta.get_sweep(sweep.id).state == "completed"
    assert len({t.run_id for t in meta.list_sweep_trials(sweep.id)}) == 12


@pytest.mark.slow
def test_two_agent_processes_share_a_grid_without_duplicates(uri: str) -> None:
    _grid_with_two_agents(uri)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_agent_processes_share_a_grid_through_postgres(fresh_postgres_url: str) -> None:
    _grid_with_two_agents(fresh_postgres_url)


@pytest.mark.slow
def test_a_killed_agent_trial_is_failed_by_heartbeat_and_the_sweep_completes(
    uri: str, tmp_path: Path
) -> None:
    marker = tmp_path / "hung"
    spec = definition(
        "killed",
        method="random",
        target="tests.tuning.objectives:hang_once",
        heartbeat_s=1,
        grace_s=3,
    )
    spec["budget"] = {"trials": 4}
    sweep = create_sweep(spec, tracking_uri=uri)
    victim = _agent(uri, sweep.id, HANG_MARKER=str(marker))
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.5)  # let the trial send a heartbeat, so it is a started, then silent trial
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    hung_run = marker.read_text()
    os.environ["HANG_MARKER"] = str(marker)
    try:
        result = run_agent(sweep.id, tracking_uri=uri)
    finally:
        del os.environ["HANG_MARKER"]
    assert result.states == {"complete": 3} and result.completed_sweep
    found = {t.number: t for t in trials(sweep.id, tracking_uri=uri)}
    killed = [t for t in found.values() if t.run_id == hung_run]
    assert len(killed) == 1 and killed[0].state == "fail"
    assert sum(t.state == "complete" for t in found.values()) == 3
    assert get_run(hung_run, tracking_uri=uri).status == RunStatus.FAILED
    meta = get_store(uri).metadata
    mirror = {t.number: t for t in meta.list_sweep_trials(sweep.id)}
    assert mirror[killed[0].number].state == "fail"
    assert meta.get_sweep(sweep.id).state == "completed"


@pytest.mark.slow
def test_a_restarted_sweep_resumes_without_duplicate_trials(uri: str) -> None:
    spec = definition("resume", method="random", target="tests.tuning.objectives:quick")
    spec["budget"] = {"trials": 7}
    sweep = create_sweep(spec, tracking_uri=uri)
    first = _agent(uri, sweep.id, "--count", "3")
    out = first.communicate(timeout=240)[0]
    assert first.returncode == 0 and _ran(out) == 3, out
    meta = get_store(uri).metadata
    assert meta.get_sweep(sweep.id).state == "running" and meta.get_sweep(sweep.id).claimed == 3
    second = _agent(uri, sweep.id)  # a restart: picks up where the sweep stopped
    out = second.communicate(timeout=240)[0]
    assert second.returncode == 0 and _ran(out) == 4, out
    again = _agent(uri, sweep.id)  # nothing left to do
    assert _ran(again.communicate(timeout=240)[0]) == 0
    found = trials(sweep.id, tracking_uri=uri)
    assert [t.number for t in found] == list(range(7))
    assert len({t.params["x"] for t in found}) == 7
    assert len({t.run_id for t in found}) == 7


@pytest.mark.slow
def test_sweep_run_starts_agents_through_the_compute_layer(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("STACKML_TRACKING_URI", uri)
    spec: dict[str, Any] = definition(
        "launched", method="tpe", target="tests.tuning.objectives:quick"
    )
    spec["budget"] = {"trials": 6, "parallelism": 2}
    spec["resources"] = {"cpus": 0.5, "memory": "256M"}
    sweep = create_sweep(spec, tracking_uri=uri)
    result = launch_sweep(sweep.id, tracking_uri=uri)
    assert len(result.jobs) == 2
    for job in result.jobs:
        assert job.state.value == "succeeded", job
        assert job.spec.cpus == 0.5 and job.spec.memory_mb == 256
        assert job.spec.target == "stackml.tuning.launch:agent_job"
    found = trials(sweep.id, tracking_uri=uri)
    assert [t.state for t in found] == ["complete"] * 6
    assert get_store(uri).metadata.get_sweep(sweep.id).state == "completed"


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # shares the Ray head of tests/compute/test_ray.py
def test_sweep_run_on_ray(uri: str, ray_cluster: None) -> None:
    spec = definition("on-ray", method="random", target="tests.tuning.objectives:quick")
    spec["budget"] = {"trials": 4, "parallelism": 2}
    sweep = create_sweep(spec, tracking_uri=uri)
    result = launch_sweep(sweep.id, executor="ray", tracking_uri=uri)
    assert [j.state.value for j in result.jobs] == ["succeeded", "succeeded"]
    assert all(j.executor == "ray" for j in result.jobs)
    assert [t.state for t in trials(sweep.id, tracking_uri=uri)] == ["complete"] * 4
