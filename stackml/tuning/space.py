"""Search spaces: declared as data, checked up front, sampled define-by-run through Optuna.

A space maps parameter names to definitions, in order::

    {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 16, "high": 128, "step": 16},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.99,
                     "when": {"optimizer": ["sgd"]}},
    }

A parameter with ``when`` is **conditional**: it exists only when every named parameter
(declared earlier) took one of the listed values. :func:`suggest` walks the space in order and
asks the Optuna trial only for the parameters whose conditions hold, so a trial never carries
a value that means nothing. :func:`check_space` rejects a bad space (low > high, an empty
categorical, log with low <= 0, a condition on an unknown or later parameter, a condition value
the parameter cannot take...) with :class:`~stackml.errors.InvalidInput` before any trial runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stackml._internal import names
from stackml.errors import InvalidInput

if TYPE_CHECKING:
    import optuna

__all__ = [
    "active",
    "check_space",
    "distributions",
    "grid_points",
    "narrow",
    "suggest",
]

TYPES = ("float", "int", "categorical")
MAX_PARAMS = 64
MAX_CHOICES = 1000
MAX_GRID = 100_000
_KEYS = {
    "float": {"type", "low", "high", "log", "step", "when"},
    "int": {"type", "low", "high", "log", "step", "when"},
    "categorical": {"type", "choices", "when"},
}


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _check_param(name: str, raw: Any, earlier: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    where = f"parameter {name!r}"
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            f"{where}: a definition is a mapping such as {{type: float, low: 0, high: 1}}"
        )
    kind = raw.get("type")
    if kind not in TYPES:
        raise InvalidInput(f"{where}: type must be one of {', '.join(TYPES)}, not {kind!r}")
    unknown = set(raw) - _KEYS[kind]
    if unknown:
        raise InvalidInput(f"{where}: unknown keys {sorted(unknown)} for a {kind} parameter")
    out: dict[str, Any] = {"type": kind}
    if kind == "categorical":
        choices = raw.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise InvalidInput(f"{where}: a categorical needs a non-empty list of choices")
        if len(choices) > MAX_CHOICES:
            raise InvalidInput(f"{where}: at most {MAX_CHOICES} choices")
        for choice in choices:
            if choice is not None and not isinstance(choice, (str, int, float, bool)):
                raise InvalidInput(f"{where}: choices are text, numbers, booleans or null")
        if len(set(map(repr, choices))) != len(choices):
            raise InvalidInput(f"{where}: choices must be distinct")
        out["choices"] = list(choices)
    else:
        if "low" not in raw or "high" not in raw:
            raise InvalidInput(f"{where}: a {kind} parameter needs low and high")
        low, high = _number(raw["low"], f"{where}: low"), _number(raw["high"], f"{where}: high")
        if kind == "int" and (low != int(low) or high != int(high)):
            raise InvalidInput(f"{where}: an int parameter needs whole-number bounds")
        if low > high:
            raise InvalidInput(f"{where}: low ({raw['low']}) is greater than high ({raw['high']})")
        log = raw.get("log", False)
        if not isinstance(log, bool):
            raise InvalidInput(f"{where}: log is true or false")
        if log and low <= 0:
            raise InvalidInput(f"{where}: a log-scale parameter needs low > 0")
        step = raw.get("step")
        if step is not None:
            step = _number(step, f"{where}: step")
            if step <= 0:
                raise InvalidInput(f"{where}: step must be positive")
            if log:
                raise InvalidInput(f"{where}: step and log cannot be combined")
            if kind == "int" and step != int(step):
                raise InvalidInput(f"{where}: an int parameter needs a whole-number step")
        cast = int if kind == "int" else float
        out.update(low=cast(low), high=cast(high), log=log)
        if step is not None:
            out["step"] = cast(step)
    when = raw.get("when")
    if when is not None:
        if not isinstance(when, Mapping) or not when:
            raise InvalidInput(f"{where}: when maps earlier parameters to lists of values")
        clean: dict[str, list[Any]] = {}
        for parent, values in when.items():
            if parent not in earlier:
                raise InvalidInput(
                    f"{where}: its condition names {parent!r}, which is not a parameter declared "
                    "before it"
                )
            if not isinstance(values, (list, tuple)) or not values:
                values = [values]
            spec = earlier[parent]
            for value in values:
                if spec["type"] == "categorical" and value not in spec["choices"]:
                    raise InvalidInput(
                        f"{where}: its condition on {parent!r} names {value!r}, which is not "
                        f"one of {spec['choices']}"
                    )
            clean[parent] = list(values)
        out["when"] = clean
    return out


def check_space(space: Any) -> dict[str, dict[str, Any]]:
    """Validate a search space and answer it in canonical form.

    Raises:
        InvalidInput: The space is empty, a name is not a valid key, or a definition is wrong.
    """
    if not isinstance(space, Mapping) or not space:
        raise InvalidInput("a search space maps at least one parameter name to its definition")
    if len(space) > MAX_PARAMS:
        raise InvalidInput(f"a search space has at most {MAX_PARAMS} parameters")
    checked: dict[str, dict[str, Any]] = {}
    for name, raw in space.items():
        try:
            names.validate_key(name, what="parameter name")
        except names.InvalidName as exc:
            raise InvalidInput(str(exc)) from exc
        checked[name] = _check_param(name, raw, checked)
    return checked


def active(spec: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether a parameter's condition holds for the values sampled so far."""
    when = spec.get("when")
    if not when:
        return True
    return all(parent in values and values[parent] in allowed for parent, allowed in when.items())


def _distribution(spec: Mapping[str, Any]) -> optuna.distributions.BaseDistribution:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if spec["type"] == "categorical":
        return CategoricalDistribution(spec["choices"])
    if spec["type"] == "int":
        return IntDistribution(spec["low"], spec["high"], log=spec["log"], step=spec.get("step", 1))
    return FloatDistribution(spec["low"], spec["high"], log=spec["log"], step=spec.get("step"))


def distributions(
    space: Mapping[str, Mapping[str, Any]],
) -> dict[str, optuna.distributions.BaseDistribution]:
    """Optuna distributions of every parameter of a checked space."""
    return {name: _distribution(spec) for name, spec in space.items()}


def suggest(
    trial: optuna.trial.BaseTrial, space: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Sample the active parameters of ``space`` on an Optuna trial, in declaration order."""
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if not active(spec, values):
            continue
        if spec["type"] == "categorical":
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif spec["type"] == "int":
            step = spec.get("step", 1)
            values[name] = trial.suggest_int(
                name, spec["low"], spec["high"], step=step, log=spec["log"]
            )
        else:
            values[name] = trial.suggest_float(
                name, spec["low"], spec["high"], step=spec.get("step"), log=spec["log"]
            )
    return values


def _axis(name: str, spec: Mapping[str, Any]) -> list[Any]:
    if spec["type"] == "categorical":
        return list(spec["choices"])
    step = spec.get("step")
    if step is None:
        raise InvalidInput(
            f"parameter {name!r}: a grid needs every number parameter to have a step (or use "
            "a categorical)"
        )
    count = math.floor((spec["high"] - spec["low"]) / step + 1e-9) + 1
    if count > MAX_GRID:
        raise InvalidInput(f"parameter {name!r}: more than {MAX_GRID} grid values")
    if spec["type"] == "int":
        return [int(spec["low"] + i * step) for i in range(count)]
    return [round(spec["low"] + i * step, 12) for i in range(count)]


def grid_points(space: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The grid of a space as Optuna's ``GridSampler`` takes it.

    Raises:
        InvalidInput: A parameter is conditional, a number has no step, or the grid is huge.
    """
    grid: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec.get("when"):
            raise InvalidInput(
                f"parameter {name!r}: grid search cannot take conditional parameters; use "
                "random or tpe, or list the combinations as one categorical"
            )
        grid[name] = _axis(name, spec)
    size = math.prod(len(axis) for axis in grid.values())
    if size > MAX_GRID:
        raise InvalidInput(f"the grid has {size} points, more than {MAX_GRID}")
    return grid


def grid_size(space: Mapping[str, Mapping[str, Any]]) -> int:
    """How many points the grid of ``space`` has."""
    return math.prod(len(axis) for axis in grid_points(space).values())


def iter_grid(space: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every point of the grid, as parameter dicts."""
    grid = grid_points(space)
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def narrow(
    space: Mapping[str, Mapping[str, Any]],
    top: list[Mapping[str, Any]],
    *,
    margin: float = 0.1,
) -> dict[str, dict[str, Any]]:
    """A smaller space around the best trials' parameters (coarse-to-fine).

    Numbers shrink to the span of the values the ``top`` trials took, widened by ``margin``
    of that span on each side (in log space for log parameters), never past the old bounds.
    Categoricals keep the choices the top trials used. Parameters no top trial used stay.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, spec in space.items():
        seen = [t[name] for t in top if name in t]
        new = dict(spec)
        if not seen:
            out[name] = new
            continue
        if spec["type"] == "categorical":
            new["choices"] = [c for c in spec["choices"] if c in seen]
        else:
            to = math.log if spec["log"] else float
            back = math.exp if spec["log"] else float
            lo, hi = to(min(seen)), to(max(seen))
            pad = max((hi - lo) * margin, (to(spec["high"]) - to(spec["low"])) * margin / 4)
            low = max(spec["low"], back(lo - pad))
            high = min(spec["high"], back(hi + pad))
            if spec["type"] == "int":
                low, high = math.floor(low), math.ceil(high)
                step = spec.get("step")
                if step:
                    low = spec["low"] + ((low - spec["low"]) // step) * step
                    high = min(spec["high"], low + math.ceil((high - low) / step) * step)
            elif spec.get("step"):
                step = spec["step"]
                low = spec["low"] + math.floor((low - spec["low"]) / step + 1e-9) * step
                high = min(spec["high"], low + math.ceil((high - low) / step - 1e-9) * step)
            new["low"], new["high"] = low, max(low, high)
        out[name] = new
    return out
