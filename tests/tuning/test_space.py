"""Search spaces and sweep definitions: validation before anything runs, conditional sampling,
narrowing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from stackml.errors import InvalidInput
from stackml.tracking import get_store
from stackml.tuning import SweepSpec, create_sweep, load_spec, optimize
from stackml.tuning.space import check_space, grid_points, narrow, suggest
from tests.tuning.conftest import definition

CONDITIONAL = {
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": ["sgd"]}},
    "nesterov": {"type": "categorical", "choices": [True, False], "when": {"optimizer": "sgd"}},
    "beta1": {"type": "float", "low": 0.8, "high": 0.95, "when": {"optimizer": ["adam"]}},
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
}

BAD_SPACES: list[tuple[Any, str]] = [
    ({"x": {"type": "float", "low": 2.0, "high": 1.0}}, "greater than high"),
    ({"x": {"type": "int", "low": 5, "high": 1}}, "greater than high"),
    ({"c": {"type": "categorical", "choices": []}}, "non-empty list of choices"),
    ({"c": {"type": "categorical"}}, "non-empty list of choices"),
    ({"c": {"type": "categorical", "choices": ["a", "a"]}}, "distinct"),
    ({"x": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "low > 0"),
    ({"x": {"type": "float", "low": 0.0}}, "needs low and high"),
    ({"x": {"type": "float", "low": 0.0, "high": float("nan")}}, "finite number"),
    ({"x": {"type": "int", "low": 0.5, "high": 3}}, "whole-number"),
    ({"x": {"type": "float", "low": 0, "high": 1, "step": -1}}, "positive"),
    ({"x": {"type": "float", "low": 1, "high": 2, "step": 0.1, "log": True}}, "cannot be combined"),
    ({"x": {"type": "normal", "low": 0, "high": 1}}, "type must be one of"),
    ({"x": {"type": "float", "low": 0, "high": 1, "scale": 2}}, "unknown keys"),
    ({"m": {"type": "float", "low": 0, "high": 1, "when": {"opt": ["sgd"]}}}, "not a parameter"),
    (
        {
            "opt": {"type": "categorical", "choices": ["adam"]},
            "m": {"type": "float", "low": 0, "high": 1, "when": {"opt": ["sgd"]}},
        },
        "not one of",
    ),
    ({}, "at least one parameter"),
    ({"bad name!": {"type": "float", "low": 0, "high": 1}}, "parameter name"),
]


@pytest.mark.parametrize(("space", "message"), BAD_SPACES)
def test_bad_spaces_are_refused_with_a_clear_message(space: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_space(space)


def test_a_bad_space_stops_a_sweep_before_any_trial_runs(uri: str) -> None:
    calls: list[int] = []
    bad = definition("bad", space={"x": {"type": "float", "low": 3.0, "high": -3.0}})
    with pytest.raises(InvalidInput, match="greater than high"):
        optimize(bad, lambda t: calls.append(1) or 0.0, tracking_uri=uri)
    empty = definition("empty", space={"c": {"type": "categorical", "choices": []}})
    with pytest.raises(InvalidInput, match="choices"):
        create_sweep(empty, tracking_uri=uri)
    assert calls == []
    meta = get_store(uri).metadata
    assert meta.list_sweeps() == []
    assert not _has_project(meta)  # not even the sweep's parent run was made


def _has_project(meta: Any) -> bool:
    return any(p.name == "tune" for p in meta.list_projects())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "annealing"}, "unknown sweep method"),
        ({"objective": {"metric": "loss", "direction": "down"}}, "maximize or minimize"),
        ({"objective": {"metrics": ["a", "b"], "directions": ["minimize"]}}, "one direction"),
        ({"pruner": "lottery"}, "unknown pruner"),
        ({"pruner": {"type": "asha", "eta": 3}}, "unknown keys"),
        (
            {
                "pruner": "median",
                "objective": {"metrics": ["a", "b"], "directions": ["minimize"] * 2},
            },
            "single objective",
        ),
        ({"budget": {"trials": 0}}, "budget: trials"),
        ({"budget": {"timeout_s": -1}}, "timeout_s"),
        ({"method": "grid"}, "needs every number parameter to have a step"),
        ({"target": "no_colon"}, "module:function"),
        ({"heartbeat_s": 10, "grace_s": 5}, "grace_s"),
        ({"on_failure": {"policy": "ignore"}}, "on_failure"),
        ({"colour": "blue"}, "unknown keys"),
        ({"name": "../etc"}, "sweep name"),
        ({"method": "coarse-to-fine", "budget": {"trials": 3}}, "two trials per round"),
    ],
)
def test_bad_definitions_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SweepSpec.from_mapping({**definition("d"), **change})


def test_grid_refuses_conditional_parameters() -> None:
    with pytest.raises(InvalidInput, match="conditional"):
        grid_points(check_space(CONDITIONAL))


def test_conditional_space_samples_only_valid_combinations() -> None:
    space = check_space(CONDITIONAL)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = []
    for _ in range(60):
        trial = study.ask()
        params = suggest(trial, space)
        study.tell(trial, 0.0)
        seen.append(params)
    for params in seen:
        if params["optimizer"] == "sgd":
            assert set(params) == {"optimizer", "momentum", "nesterov", "lr"}
            assert 0.5 <= params["momentum"] <= 0.99
        else:
            assert set(params) == {"optimizer", "beta1", "lr"}
    assert {p["optimizer"] for p in seen} == {"adam", "sgd"}


def test_conditional_space_through_a_tpe_sweep(uri: str) -> None:
    spec = definition("cond", method="tpe", space=CONDITIONAL, budget={"trials": 12})
    spec["objective"] = {"metric": "loss", "direction": "minimize"}

    def objective(trial: Any) -> float:
        p = trial.params
        assert ("momentum" in p) == (p["optimizer"] == "sgd")
        assert ("beta1" in p) == (p["optimizer"] == "adam")
        return abs(p["lr"] - 0.01)

    sweep, result = optimize(spec, objective, tracking_uri=uri)
    assert result.states == {"complete": 12}
    for t in get_store(uri).metadata.list_sweep_trials(sweep.id):
        assert ("momentum" in t.params) == (t.params["optimizer"] == "sgd")


def test_narrow_shrinks_around_the_top_trials() -> None:
    space = check_space(
        {
            "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
            "width": {"type": "int", "low": 8, "high": 256, "step": 8},
            "act": {"type": "categorical", "choices": ["relu", "gelu", "tanh"]},
            "p": {"type": "float", "low": 0.0, "high": 1.0},
        }
    )
    top = [
        {"lr": 1e-3, "width": 64, "act": "relu", "p": 0.2},
        {"lr": 3e-3, "width": 96, "act": "gelu", "p": 0.3},
    ]
    small = narrow(space, top)
    assert 1e-5 < small["lr"]["low"] <= 1e-3 and 3e-3 <= small["lr"]["high"] < 1.0
    assert 8 <= small["width"]["low"] <= 64 and 96 <= small["width"]["high"] < 256
    assert (small["width"]["low"] - 8) % 8 == 0
    assert small["act"]["choices"] == ["relu", "gelu"]
    assert 0.0 <= small["p"]["low"] <= 0.2 and 0.3 <= small["p"]["high"] < 1.0
    check_space(small)  # a narrowed space is still a valid one


def test_yaml_definition_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: y1\nproject: tune\nmethod: random\ntarget: tests.tuning.objectives:quick\n"
        "space:\n  x: {type: float, low: -5, high: 5}\n"
        "objective: {metric: loss, direction: minimize}\n"
        "pruner: {type: hyperband, min_resource: 1, max_resource: 9}\n"
        "budget: {trials: 5, parallelism: 2}\nresources: {cpus: 0.5}\n"
    )
    spec = load_spec(path)
    assert spec.method == "random" and spec.budget.parallelism == 2
    assert spec.pruner == {"type": "hyperband", "min_resource": 1, "max_resource": 9}
    assert SweepSpec.from_mapping(spec.to_dict()) == spec
    path.write_text("name: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_spec(path)
