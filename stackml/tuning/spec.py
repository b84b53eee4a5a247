"""Sweep definitions in Python or YAML, checked completely before any trial runs.

::

    name: digits-cnn
    project: digits
    target: mypkg.train:objective        # a function taking a stackml.tuning.Trial
    method: tpe                          # grid | random | tpe | gp | cmaes | coarse-to-fine
    space:
      lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
      width: {type: int, low: 16, high: 128, step: 16}
    objective: {metric: val_accuracy, direction: maximize}   # or {definition: true}
    pruner: {type: asha, min_resource: 1, reduction_factor: 3}
    budget: {trials: 40, timeout_s: 3600, parallelism: 2}
    coarse_to_fine: {rounds: 3, top_k: 4}
    on_failure: {policy: retry, max_retries: 1}
    resources: {cpus: 1, gpus: 0, memory: 2G}
    seed: 0

``objective`` takes one metric (``metric``/``direction``), several (``metrics``/
``directions``: a multi-objective sweep with a Pareto front) or ``definition: true`` (the
project's metric definition, see :mod:`stackml.training.scoring`; its goal sets the direction).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackml._internal import names
from stackml.errors import InvalidInput, NotFound
from stackml.tuning.space import check_space, grid_points

__all__ = [
    "METHODS",
    "PRUNERS",
    "Budget",
    "FailurePolicy",
    "Objective",
    "SweepSpec",
    "load_spec",
]

METHODS = ("grid", "random", "tpe", "gp", "cmaes", "coarse-to-fine")
PRUNERS = ("median", "asha", "hyperband")
DIRECTIONS = ("maximize", "minimize")
_PRUNER_KEYS = {
    "median": {"type", "n_startup_trials", "n_warmup_steps"},
    "asha": {"type", "min_resource", "reduction_factor"},
    "hyperband": {"type", "min_resource", "max_resource", "reduction_factor"},
}
_TOP_KEYS = {
    "name", "project", "target", "method", "space", "objective", "pruner", "budget",
    "coarse_to_fine", "on_failure", "resources", "seed", "heartbeat_s", "grace_s", "args",
}  # fmt: skip


@dataclass(frozen=True)
class Objective:
    """What a sweep optimises: metrics with directions, or the project's metric definition."""

    metrics: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    definition: bool = False

    @property
    def multi(self) -> bool:
        """Whether the sweep has more than one objective."""
        return len(self.directions) > 1


@dataclass(frozen=True)
class Budget:
    """How much a sweep may spend: trials, wall-clock seconds, agents at once."""

    trials: int = 20
    timeout_s: float | None = None
    parallelism: int = 1


@dataclass(frozen=True)
class FailurePolicy:
    """What happens to a failed trial: ``skip`` it, or ``retry`` it up to ``max_retries``."""

    policy: str = "skip"
    max_retries: int = 1


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep definition (see the module docstring for the YAML form)."""

    name: str
    space: dict[str, dict[str, Any]]
    objective: Objective
    project: str = "default"
    target: str | None = None
    method: str = "tpe"
    pruner: dict[str, Any] | None = None
    budget: Budget = field(default_factory=Budget)
    coarse_to_fine: dict[str, int] = field(default_factory=lambda: {"rounds": 3, "top_k": 3})
    on_failure: FailurePolicy = field(default_factory=FailurePolicy)
    resources: dict[str, Any] = field(default_factory=lambda: {"cpus": 1.0, "gpus": 0})
    seed: int | None = None
    heartbeat_s: int = 10
    grace_s: int = 30
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> SweepSpec:
        """Check a definition given as data; raises ``InvalidInput`` naming what is wrong."""
        return _parse(raw)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the sweep (round-trips through :meth:`from_mapping`)."""
        out = asdict(self)
        objective = out.pop("objective")
        if objective["definition"]:
            out["objective"] = {"definition": True}
        else:
            out["objective"] = {
                "metrics": list(objective["metrics"]),
                "directions": list(objective["directions"]),
            }
        return out

    @property
    def budget_trials(self) -> int:
        """Trial slots: the trial budget, capped by the grid size for grid search."""
        if self.method == "grid":
            from stackml.tuning.space import grid_size

            return min(self.budget.trials, grid_size(self.space))
        return self.budget.trials


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _objective(raw: Any) -> Objective:
    if raw in ("definition", {"definition": True}):
        return Objective(definition=True)
    if isinstance(raw, str):
        raw = {"metric": raw}
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "objective is {metric: NAME, direction: maximize|minimize}, "
            "{metrics: [...], directions: [...]} or {definition: true}"
        )
    unknown = set(raw) - {"metric", "metrics", "direction", "directions", "definition"}
    if unknown:
        raise InvalidInput(f"objective: unknown keys {sorted(unknown)}")
    if raw.get("definition"):
        if len(raw) > 1:
            raise InvalidInput("objective: definition: true takes no metric or direction")
        return Objective(definition=True)
    metrics = raw.get("metrics", [raw["metric"]] if "metric" in raw else None)
    directions = raw.get("directions", [raw.get("direction", "maximize")])
    if not isinstance(metrics, (list, tuple)) or not metrics:
        raise InvalidInput("objective: name the metric to optimise (metric: val_accuracy)")
    if isinstance(directions, str):
        directions = [directions]
    if len(directions) == 1 and len(metrics) > 1 and "directions" not in raw:
        directions = list(directions) * len(metrics)
    if len(directions) != len(metrics):
        raise InvalidInput("objective: give one direction per metric")
    for direction in directions:
        if direction not in DIRECTIONS:
            raise InvalidInput(f"objective: direction is maximize or minimize, not {direction!r}")
    try:
        checked = tuple(names.validate_key(m, what="objective metric") for m in metrics)
    except names.InvalidName as exc:
        raise InvalidInput(str(exc)) from exc
    if len(set(checked)) != len(checked):
        raise InvalidInput("objective: each metric once")
    return Objective(checked, tuple(directions))


def _pruner(raw: Any) -> dict[str, Any] | None:
    if raw in (None, "none"):
        return None
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, Mapping):
        raise InvalidInput("pruner is median, asha or hyperband, or {type: ..., options}")
    declared = raw.get("type")
    kind = {"successive-halving": "asha", "successive_halving": "asha"}.get(str(declared), declared)
    if kind not in PRUNERS:
        raise InvalidInput(f"unknown pruner {raw.get('type')!r}: use one of {', '.join(PRUNERS)}")
    unknown = set(raw) - _PRUNER_KEYS[kind]
    if unknown:
        raise InvalidInput(f"pruner {kind}: unknown keys {sorted(unknown)}")
    out = {**raw, "type": kind}
    for key in set(out) - {"type"}:
        if key == "max_resource" and out[key] == "auto":
            continue
        _int(out[key], f"pruner {kind}: {key}", 0 if key.startswith("n_") else 1, 1_000_000)
    return out


def _parse(raw: Mapping[str, Any]) -> SweepSpec:
    if not isinstance(raw, Mapping):
        raise InvalidInput("a sweep definition is a mapping (YAML or JSON object)")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise InvalidInput(f"unknown keys in the sweep definition: {sorted(unknown)}")
    try:
        name = names.validate_name(raw.get("name"), what="sweep name")
        project = names.validate_name(raw.get("project", "default"), what="project name")
    except names.InvalidName as exc:
        raise InvalidInput(str(exc)) from exc
    method = raw.get("method", "tpe")
    if method not in METHODS:
        raise InvalidInput(f"unknown sweep method {method!r}: use one of {', '.join(METHODS)}")
    space = check_space(raw.get("space"))
    if method == "grid":
        grid_points(space)
    objective = _objective(raw.get("objective", {}))
    pruner = _pruner(raw.get("pruner"))
    if pruner is not None and objective.multi:
        raise InvalidInput("pruning needs a single objective: drop the pruner or an objective")
    if method == "cmaes" and objective.multi:
        raise InvalidInput("cmaes optimises one objective: use tpe or random for several")
    b = raw.get("budget", {})
    if not isinstance(b, Mapping) or set(b) - {"trials", "timeout_s", "parallelism"}:
        raise InvalidInput("budget is {trials: N, timeout_s: S, parallelism: P}")
    timeout = b.get("timeout_s")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not timeout > 0
        or not math.isfinite(timeout)
    ):
        raise InvalidInput("budget: timeout_s is a positive number of seconds")
    budget = Budget(
        _int(b.get("trials", 20), "budget: trials", 1, 1_000_000),
        None if timeout is None else float(timeout),
        _int(b.get("parallelism", 1), "budget: parallelism", 1, 1024),
    )
    c2f = dict(raw.get("coarse_to_fine") or {"rounds": 3, "top_k": 3})
    if set(c2f) - {"rounds", "top_k"}:
        raise InvalidInput("coarse_to_fine is {rounds: N, top_k: K}")
    c2f = {
        "rounds": _int(c2f.get("rounds", 3), "coarse_to_fine: rounds", 1, 100),
        "top_k": _int(c2f.get("top_k", 3), "coarse_to_fine: top_k", 1, 1000),
    }
    if method == "coarse-to-fine" and budget.trials < c2f["rounds"] * 2:
        raise InvalidInput(
            "coarse-to-fine needs at least two trials per round: raise budget.trials"
        )
    f = raw.get("on_failure", {})
    if isinstance(f, str):
        f = {"policy": f}
    if not isinstance(f, Mapping) or f.get("policy", "skip") not in ("skip", "retry"):
        raise InvalidInput("on_failure is {policy: skip|retry, max_retries: N}")
    failure = FailurePolicy(
        f.get("policy", "skip"), _int(f.get("max_retries", 1), "max_retries", 0, 100)
    )
    resources = dict(raw.get("resources") or {"cpus": 1.0, "gpus": 0})
    if set(resources) - {"cpus", "gpus", "memory"}:
        raise InvalidInput("resources is {cpus: C, gpus: G, memory: 2G}")
    target = raw.get("target")
    if target is not None and (
        not isinstance(target, str) or target.count(":") != 1 or not all(target.split(":"))
    ):
        raise InvalidInput("target is 'module:function', e.g. mypkg.train:objective")
    seed = raw.get("seed")
    if seed is not None:
        seed = _int(seed, "seed", 0, 2**31 - 1)
    heartbeat = _int(raw.get("heartbeat_s", 10), "heartbeat_s", 1, 3600)
    grace = _int(raw.get("grace_s", max(30, 3 * heartbeat)), "grace_s", 1, 86_400)
    if grace <= heartbeat:
        raise InvalidInput("grace_s must be longer than heartbeat_s")
    args = raw.get("args") or {}
    if not isinstance(args, Mapping):
        raise InvalidInput("args is a mapping of fixed arguments for the target")
    try:
        json.dumps(args, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("args must be JSON data") from exc
    return SweepSpec(
        name=name,
        space=space,
        objective=objective,
        project=project,
        target=target,
        method=method,
        pruner=pruner,
        budget=budget,
        coarse_to_fine=c2f,
        on_failure=failure,
        resources=resources,
        seed=seed,
        heartbeat_s=heartbeat,
        grace_s=grace,
        args=dict(args),
    )


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep definition from a YAML or JSON file."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise NotFound(f"no sweep definition at {file}")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file} is not valid YAML: {exc}") from exc
    return SweepSpec.from_mapping(raw)
