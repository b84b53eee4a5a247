"""Project baselines and metric definitions: the training part of :class:`MetadataStore`.

A **baseline** is a reference score for a project: computed by stackml (``internal``: a
majority-class or linear model), measured on people (``human``) or taken from a paper
(``published``). A project's **metric definition** turns a run's many metrics into the single
number that sweeps optimise and promotion compares. It is one of:

- ``weighted``: ``{"weights": {"accuracy": 1.0, "f1": 0.5}}`` -> the weighted average;
- ``constrained``: ``{"objective": "accuracy", "constraints": [{"metric": "latency_p99_ms",
  "op": "<=", "value": 20}]}`` -> the objective when every constraint holds, else no score;
- ``expression``: ``{"expression": "accuracy - 0.01 * max(latency_ms - 20, 0)"}`` -> an
  arithmetic formula over metric names (``+ - * /``, ``min``, ``max``, ``abs``, numbers; a
  name that is not an identifier is written ``m("val/accuracy")``). It is parsed with
  :mod:`ast` and walked node by node, never evaluated as Python.

Contract: definitions are validated by :func:`check_definition` in every implementation (an
invalid one raises ``InvalidInput`` and is not stored); ``set_*`` replace what was there;
``get_metric_definition`` and ``delete_baseline`` raise ``NotFound`` for what does not exist.
"""

from __future__ import annotations

import abc
import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackml._internal import names
from stackml.errors import InvalidInput

__all__ = [
    "BASELINE_KINDS",
    "DEFINITION_KINDS",
    "Baseline",
    "MetricDefinition",
    "TrainingStore",
    "check_baseline_metrics",
    "check_definition",
    "evaluate_definition",
    "parse_expression",
]

BASELINE_KINDS = ("internal", "human", "published")
DEFINITION_KINDS = ("weighted", "constrained", "expression")
OPERATORS = ("<=", "<", ">=", ">", "==")
MAX_EXPRESSION = 500


@dataclass(frozen=True)
class Baseline:
    """A reference score of a project (immutable snapshot)."""

    project: str
    name: str
    kind: str
    metrics: dict[str, float]
    source: str = ""
    created_at: int = 0


@dataclass(frozen=True)
class MetricDefinition:
    """How a project scores a run; ``goal`` says whether larger (``max``) is better."""

    kind: str
    spec: dict[str, Any]
    goal: str = "max"
    project: str = ""
    updated_at: int = 0
    metrics: tuple[str, ...] = field(default=(), compare=False)


_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_FUNCS = {"min", "max", "abs"}


def parse_expression(text: str) -> tuple[ast.Expression, tuple[str, ...]]:
    """Parse a custom metric expression; return its tree and the metric names it reads.

    Raises:
        InvalidInput: The text is too long, not an expression, or uses anything but numbers,
            metric names, ``+ - * /``, unary minus, ``min``/``max``/``abs`` and ``m("name")``.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_EXPRESSION:
        raise InvalidInput(f"an expression is 1 to {MAX_EXPRESSION} characters of text")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise InvalidInput(f"cannot parse expression {text!r}: {exc.msg}") from exc
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            visit(node.body)
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return
        elif isinstance(node, ast.Name):
            found.append(names.validate_key(node.id, what="metric name"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _BIN:
            visit(node.left)
            visit(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            visit(node.operand)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and not node.keywords
            and node.func.id == "m"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(names.validate_key(node.args[0].value, what="metric name"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and not node.keywords
            and node.args
        ):
            for arg in node.args:
                visit(arg)
        else:
            raise InvalidInput(
                f"{type(node).__name__} is not allowed in a metric expression: use numbers, "
                "metric names, + - * /, min, max, abs and m('name')"
            )

    try:
        visit(tree)
    except names.InvalidName as exc:
        raise InvalidInput(str(exc)) from exc
    return tree, tuple(dict.fromkeys(found))


def _eval(node: ast.AST, metrics: Mapping[str, float]) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body, metrics)
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]  # numbers only, checked by parse
    if isinstance(node, ast.Name):
        return float(metrics[node.id])
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, metrics)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, metrics), _eval(node.right, metrics)
        op = _BIN[type(node.op)]
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        return left / right if right != 0 else math.nan
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    if node.func.id == "m":
        return float(metrics[node.args[0].value])  # type: ignore[attr-defined]
    values = [_eval(arg, metrics) for arg in node.args]
    if node.func.id == "abs":
        return abs(values[0])
    return min(values) if node.func.id == "min" else max(values)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}")
    return float(value)


def check_definition(definition: MetricDefinition) -> MetricDefinition:
    """Validate a definition; return it normalised, with the metric names it reads.

    Raises:
        InvalidInput: Unknown kind or goal, or a malformed spec.
    """
    kind, spec = definition.kind, definition.spec
    if definition.goal not in ("max", "min"):
        raise InvalidInput(f"goal must be 'max' or 'min', not {definition.goal!r}")
    if not isinstance(spec, Mapping):
        raise InvalidInput("a metric definition's spec is a JSON object")
    try:
        if kind == "weighted":
            weights = spec.get("weights")
            if not isinstance(weights, Mapping) or not weights:
                raise InvalidInput('a weighted definition needs {"weights": {metric: weight}}')
            clean = {
                names.validate_key(k, what="metric name"): _number(w, f"weight of {k}")
                for k, w in weights.items()
            }
            if sum(abs(w) for w in clean.values()) == 0:
                raise InvalidInput("at least one weight must be non-zero")
            norm: dict[str, Any] = {"weights": clean}
            used = tuple(clean)
        elif kind == "constrained":
            objective = names.validate_key(spec.get("objective"), what="objective metric")
            constraints = []
            for item in spec.get("constraints") or []:
                if not isinstance(item, Mapping) or item.get("op") not in OPERATORS:
                    raise InvalidInput(
                        f"a constraint is {{metric, op, value}} with op in {OPERATORS}: {item!r}"
                    )
                constraints.append(
                    {
                        "metric": names.validate_key(item.get("metric"), what="constraint metric"),
                        "op": item["op"],
                        "value": _number(item.get("value"), "constraint value"),
                    }
                )
            norm = {"objective": objective, "constraints": constraints}
            used = tuple(dict.fromkeys([objective, *(c["metric"] for c in constraints)]))
        elif kind == "expression":
            text = spec.get("expression")
            _, used = parse_expression(text)  # type: ignore[arg-type]
            norm = {"expression": str(text).strip()}
        else:
            raise InvalidInput(f"unknown definition kind {kind!r}: use one of {DEFINITION_KINDS}")
    except names.InvalidName as exc:
        raise InvalidInput(str(exc)) from exc
    return MetricDefinition(
        kind, norm, definition.goal, definition.project, definition.updated_at, used
    )


def evaluate_definition(definition: MetricDefinition, metrics: Mapping[str, float]) -> float | None:
    """The single score of ``metrics`` under ``definition``; ``None`` when a metric it needs
    is missing or a constraint fails (such a run has no score and never wins)."""
    checked = check_definition(definition)
    if any(name not in metrics for name in checked.metrics):
        return None
    spec = checked.spec
    if checked.kind == "weighted":
        weights = spec["weights"]
        total = sum(abs(w) for w in weights.values())
        return sum(w * float(metrics[k]) for k, w in weights.items()) / total
    if checked.kind == "constrained":
        for c in spec["constraints"]:
            value, limit = float(metrics[c["metric"]]), c["value"]
            ok = {
                "<=": value <= limit,
                "<": value < limit,
                ">=": value >= limit,
                ">": value > limit,
                "==": value == limit,
            }[c["op"]]
            if not ok:
                return None
        return float(metrics[spec["objective"]])
    tree, _ = parse_expression(spec["expression"])
    value = _eval(tree, metrics)
    return value if math.isfinite(value) else None


def check_baseline_metrics(metrics: object) -> dict[str, float]:
    """Validate a baseline's ``{metric: value}`` mapping (at least one finite number)."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise InvalidInput("a baseline needs at least one metric value")
    try:
        return {
            names.validate_key(k, what="metric name"): _number(v, f"baseline metric {k}")
            for k, v in metrics.items()
        }
    except names.InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


class TrainingStore(abc.ABC):
    """Baselines and the metric definition of projects. Thread-safe like the whole store."""

    @abc.abstractmethod
    def set_baseline(
        self,
        project: str,
        name: str,
        *,
        kind: str,
        metrics: Mapping[str, float],
        source: str = "",
    ) -> Baseline:
        """Create or replace baseline ``name`` of ``project`` (created if missing).

        Raises:
            InvalidInput: Bad name, kind or metrics.
        """

    @abc.abstractmethod
    def list_baselines(self, project: str) -> list[Baseline]:
        """A project's baselines by name (empty for an unknown project)."""

    @abc.abstractmethod
    def delete_baseline(self, project: str, name: str) -> None:
        """Delete a baseline. Raises ``NotFound`` when there is none."""

    @abc.abstractmethod
    def set_metric_definition(self, project: str, definition: MetricDefinition) -> MetricDefinition:
        """Validate and store a project's metric definition, replacing any previous one."""

    @abc.abstractmethod
    def get_metric_definition(self, project: str) -> MetricDefinition:
        """A project's metric definition. Raises ``NotFound`` when none is set."""
