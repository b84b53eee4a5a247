"""Every method, pruner and objective kind, run for real on small problems."""

from __future__ import annotations

from typing import Any

import pytest

from stackml.errors import InvalidInput, NotFound
from stackml.store.entities import RunStatus
from stackml.tracking import get_run, get_store, metric_history
from stackml.training.scoring import set_metric_definition
from stackml.tuning import (
    Trial,
    best_trial,
    create_sweep,
    importances,
    optimize,
    pareto_front,
    run_agent,
    stop_sweep,
    trials,
)
from tests.tuning.conftest import definition, quadratic


@pytest.mark.parametrize("method", ["random", "tpe", "gp", "cmaes"])
def test_each_sampler_runs_a_tracked_sweep(uri: str, method: str) -> None:
    sweep, result = optimize(definition(f"m-{method}", method=method), quadratic, tracking_uri=uri)
    assert result.states == {"complete": 8} and result.completed_sweep
    assert sweep.state == "completed"
    mirror = get_store(uri).metadata.list_sweep_trials(sweep.id)
    assert [t.number for t in mirror] == list(range(8))
    for t in mirror:
        run = get_run(t.run_id, tracking_uri=uri)
        assert run.parent_id == sweep.run_id and run.status == RunStatus.COMPLETED
        assert float(run.params["x"]) == pytest.approx(t.params["x"])
        assert run.metrics["loss"].latest == pytest.approx(t.values[0])
        steps = [s for s, _, _ in metric_history(t.run_id, "loss", tracking_uri=uri)]
        assert steps[:5] == [0, 1, 2, 3, 4]  # intermediate values as metric steps
    assert get_run(sweep.run_id, tracking_uri=uri).status == RunStatus.COMPLETED
    best = best_trial(sweep.id, tracking_uri=uri)
    assert best.values[0] == min(t.values[0] for t in mirror)


def test_grid_covers_every_point_once(uri: str) -> None:
    spec = definition(
        "grid",
        method="grid",
        space={
            "a": {"type": "int", "low": 0, "high": 2, "step": 1},
            "b": {"type": "categorical", "choices": ["x", "y"]},
            "c": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.25},
        },
        budget={"trials": 100},
    )
    points: list[tuple[Any, ...]] = []
    sweep, _ = optimize(
        spec, lambda t: points.append(tuple(t.params.values())) or 0.0, tracking_uri=uri
    )
    assert sweep.budget == 18 and len(points) == 18 and len(set(points)) == 18


def test_coarse_to_fine_narrows_the_space_each_round(uri: str) -> None:
    spec = definition(
        "c2f",
        method="coarse-to-fine",
        space={
            "x": {"type": "float", "low": -10.0, "high": 10.0},
            "k": {"type": "categorical", "choices": ["a", "b", "c", "d"]},
        },
        budget={"trials": 24},
        coarse_to_fine={"rounds": 3, "top_k": 3},
    )

    def objective(trial: Trial) -> float:
        return (trial.params["x"] - 2.0) ** 2 + (0 if trial.params["k"] == "b" else 5)

    sweep, _ = optimize(spec, objective, tracking_uri=uri)
    rounds = get_store(uri).metadata.list_sweep_rounds(sweep.id)
    assert [r.round for r in rounds] == [0, 1, 2]
    widths = [r.space["x"]["high"] - r.space["x"]["low"] for r in rounds]
    assert widths[0] == 20.0 and widths[1] < widths[0] and widths[2] < widths[1]
    assert len(rounds[2].space["k"]["choices"]) < 4
    for r in rounds[1:]:  # every narrowed round still holds the optimum region it found
        assert r.space["x"]["low"] >= -10.0 and r.space["x"]["high"] <= 10.0
    found = trials(sweep.id, tracking_uri=uri)
    for t in found:
        space = rounds[t.round].space
        assert space["x"]["low"] <= t.params["x"] <= space["x"]["high"]
        assert t.params["k"] in space["k"]["choices"]
    by_round = {r.round: [t.values[0] for t in found if t.round == r.round] for r in rounds}
    assert min(by_round[2]) <= min(by_round[0])
    assert sorted(importances(sweep.id, tracking_uri=uri)) == ["k", "x"]


@pytest.mark.parametrize(
    "pruner",
    [
        {"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        {"type": "asha", "min_resource": 1, "reduction_factor": 2},
        {"type": "hyperband", "min_resource": 1, "max_resource": 8, "reduction_factor": 2},
    ],
)
def test_pruning_stops_bad_trials_early(uri: str, pruner: dict[str, Any]) -> None:
    steps_run: dict[int, int] = {}

    def objective(trial: Trial) -> float:
        # The first trials are good; later ones are much worse at every step.
        bad = 10.0 if trial.number >= 3 else 0.0
        for step in range(8):
            steps_run[trial.number] = step + 1
            trial.report({"loss": bad + trial.params["x"] ** 2 * 0.001 + 1.0 / (step + 1)}, step)
        return bad

    spec = definition(f"prune-{pruner['type']}", method="random", pruner=pruner)
    # Hyperband puts each trial in a bracket by a hash of the study name (random per sweep); in
    # some brackets nothing is pruned, so it gets more trials to be sure of three bad ones.
    spec["budget"] = {"trials": 20 if pruner["type"] == "hyperband" else 10}
    sweep, result = optimize(spec, objective, tracking_uri=uri)
    assert result.states.get("pruned", 0) >= 3, result.states
    found = {t.number: t for t in trials(sweep.id, tracking_uri=uri)}
    pruned = [n for n, t in found.items() if t.state == "pruned"]
    assert sum(n >= 3 for n in pruned) >= 3  # the bad trials are the ones stopped
    assert any(found[n].state == "complete" for n in range(3))  # a good one ran to the end
    for number, t in found.items():
        if t.state == "pruned":
            assert steps_run[number] < 8 and len(t.intermediate) == steps_run[number]
            run = get_run(t.run_id, tracking_uri=uri)
            assert run.tags["sweep.pruned_at_step"] == str(steps_run[number] - 1)
    mirror = get_store(uri).metadata.list_sweep_trials(sweep.id)
    assert {t.number for t in mirror if t.state == "pruned"} == {
        n for n, t in found.items() if t.state == "pruned"
    }


def test_multi_objective_sweep_has_a_pareto_front(uri: str) -> None:
    spec = definition(
        "pareto",
        method="tpe",
        objective={"metrics": ["error", "latency"], "directions": ["minimize", "minimize"]},
        budget={"trials": 12},
    )
    sweep, _ = optimize(
        spec,
        lambda t: {"error": (t.params["x"] - 2) ** 2, "latency": (t.params["x"] + 2) ** 2},
        tracking_uri=uri,
    )
    front = pareto_front(sweep.id, tracking_uri=uri)
    everything = [t for t in trials(sweep.id, tracking_uri=uri) if t.state == "complete"]
    assert front
    for f in front:  # nothing dominates a front member
        assert not any(
            o.values[0] <= f.values[0] and o.values[1] <= f.values[1] and o.values != f.values
            for o in everything
        )
    numbers = {f.number for f in front}
    assert min(everything, key=lambda t: t.values[0]).number in numbers
    assert min(everything, key=lambda t: t.values[1]).number in numbers
    with pytest.raises(InvalidInput, match="Pareto"):
        best_trial(sweep.id, tracking_uri=uri)
    assert set(importances(sweep.id, objective=1, tracking_uri=uri)) == {"x"}


def test_objective_from_the_project_metric_definition(uri: str) -> None:
    set_metric_definition(
        "tune", expression="accuracy - 0.01 * max(latency_ms - 20, 0)", tracking_uri=uri
    )
    spec = definition("scored", objective={"definition": True})

    def objective(trial: Trial) -> dict[str, float]:
        x = trial.params["x"]
        return {"accuracy": 1.0 - abs(x) / 10, "latency_ms": 10 + 5 * abs(x - 1)}

    sweep, _ = optimize(spec, objective, tracking_uri=uri)
    best = best_trial(sweep.id, tracking_uri=uri)
    for t in trials(sweep.id, tracking_uri=uri):
        acc, lat = 1.0 - abs(t.params["x"]) / 10, 10 + 5 * abs(t.params["x"] - 1)
        assert t.values[0] == pytest.approx(acc - 0.01 * max(lat - 20, 0))
        assert t.values[0] <= best.values[0]  # the definition's goal is max
    missing = definition("no-definition", project="elsewhere", objective={"definition": True})
    with pytest.raises(NotFound):
        create_sweep(missing, tracking_uri=uri)


def test_failed_trials_are_retried_or_skipped_by_policy(uri: str) -> None:
    attempts: dict[float, int] = {}

    def flaky(trial: Trial) -> float:
        x = trial.params["x"]
        attempts[x] = attempts.get(x, 0) + 1
        if attempts[x] == 1 and trial.number % 2 == 0:
            raise RuntimeError("out of memory")
        return x**2

    retry = definition("retry", on_failure={"policy": "retry", "max_retries": 1})
    retry["budget"] = {"trials": 6}
    sweep, result = optimize(retry, flaky, tracking_uri=uri)
    found = trials(sweep.id, tracking_uri=uri)
    failed = [t for t in found if t.state == "fail"]
    assert failed and all(t.run_id for t in failed)
    for t in failed:  # each failure came back with the same params (it counts in the budget)
        again = [o for o in found if o.params == t.params and o.number > t.number]
        assert again or t.number >= 4
        assert get_run(t.run_id, tracking_uri=uri).status == RunStatus.FAILED
    assert len(found) == 6
    attempts.clear()
    skip = definition("skip", on_failure="skip")
    skip["budget"] = {"trials": 6}
    sweep, result = optimize(skip, flaky, tracking_uri=uri)
    assert result.states == {"fail": 3, "complete": 3}
    assert len({tuple(t.params.items()) for t in trials(sweep.id, tracking_uri=uri)}) == 6


def test_a_trial_without_its_objective_fails_with_a_reason(uri: str) -> None:
    sweep, result = optimize(definition("no-metric"), lambda t: {"other": 1.0}, tracking_uri=uri)
    assert result.states == {"fail": 8}
    summary = trials(sweep.id, tracking_uri=uri)[0]
    assert summary.state == "fail"
    with pytest.raises(NotFound):
        best_trial(sweep.id, tracking_uri=uri)


def test_stop_and_wall_time_budget(uri: str) -> None:
    sweep = create_sweep(definition("stopped"), tracking_uri=uri)
    stop_sweep(sweep.id, tracking_uri=uri)
    assert run_agent(sweep.id, quadratic, tracking_uri=uri).trials == []
    assert get_run(sweep.run_id, tracking_uri=uri).status == RunStatus.KILLED
    timed = definition("timed", budget={"trials": 1000, "timeout_s": 0.5})
    sweep, result = optimize(
        timed, lambda t: __import__("time").sleep(0.2) or 1.0, tracking_uri=uri
    )
    assert 1 <= len(result.trials) < 20 and sweep.state == "completed"
