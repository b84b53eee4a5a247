"""MLflow's search languages translated onto stackml's.

Run filters: MLflow's language (``metrics.acc > 0.9 and params.opt = 'adam'``,
``attributes.status = 'FINISHED'``, ``tags."mlflow.runName" LIKE 'cnn%'``, ``IN``, ``ILIKE``)
is almost the stackml filter language (:mod:`stackml.store.filter`). The differences are
names and values: ``user_id`` is ``user``, ``created`` is ``start_time``, MLflow's statuses
are upper case, and the ``mlflow.runName``/``mlflow.user`` tags are the run's name and user
attributes. :func:`translate_filter` parses with stackml's parser, rewrites those, and prints
the result back as stackml filter text, so the SQL store compiles it into one indexed query.

Experiment filters (``name LIKE 'x%' and tags.team = 'a'``) run over the few experiments in
Python (:class:`ExperimentFilter`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from typing import Any

from stackml.server.mlflow.errors import MlflowError
from stackml.store.filter import (
    BoolOp,
    Comparison,
    Node,
    parse_filter,
    parse_order_by,
    tokenize,
)

#: MLflow status -> stackml status, and back.
TO_STACKML_STATUS = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "completed",
    "FAILED": "failed",
    "KILLED": "killed",
}
TO_MLFLOW_STATUS = {
    "running": "RUNNING",
    "completed": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
}
_ATTRIBUTE_NAMES = {"user_id": "user", "created": "start_time", "run_id": "id"}
_PREFIXES = {"attributes", "attribute", "attr"}
_TAG_ATTRIBUTES = {"mlflow.runName": "name", "mlflow.user": "user"}
_UNSUPPORTED = {"datasets", "dataset", "artifact_uri", "lifecycle_stage"}


def _rename_attributes(text: str) -> str:
    """Rewrite MLflow attribute names the stackml parser does not know (``user_id``...)."""
    tokens = tokenize(text)
    edits: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens):
        if token.kind != "word":
            continue
        lowered = token.text.lower()
        previous = tokens[index - 1] if index else None
        following = tokens[index + 1]  # the list ends with an "end" token
        if previous is not None and previous.kind == "dot":
            attribute = index >= 2 and tokens[index - 2].text.lower() in _PREFIXES
        else:
            starts_term = (
                previous is None
                or previous.kind == "lparen"
                or (previous.kind == "word" and previous.text.lower() in {"and", "or"})
            )
            attribute = starts_term and following.kind != "dot"
            if starts_term and following.kind == "dot" and lowered in _UNSUPPORTED:
                attribute = True
        if not attribute:
            continue
        if lowered in _UNSUPPORTED:
            raise MlflowError(f"Filtering on {token.text!r} is not supported by this server.")
        if lowered in _ATTRIBUTE_NAMES:
            edits.append((token.position, len(token.text), _ATTRIBUTE_NAMES[lowered]))
    for position, length, replacement in reversed(edits):
        text = text[:position] + replacement + text[position + length :]
    return text


def _quote(value: Any) -> str:
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _key(key: str) -> str:
    return "`" + key.replace("`", "``") + "`"


def _status(value: Any) -> Any:
    if isinstance(value, str):
        upper = value.upper()
        if upper in TO_STACKML_STATUS:
            return TO_STACKML_STATUS[upper]
    return value


def _render(node: Node) -> str:
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(_render(part) for part in node.operands) + ")"
    entity, key, op, value = node.entity, node.key, node.op, node.value
    if entity == "tag" and key in _TAG_ATTRIBUTES:
        entity, key = "attribute", _TAG_ATTRIBUTES[key]
    if entity == "attribute" and key == "status":
        value = tuple(_status(v) for v in value) if isinstance(value, tuple) else _status(value)
        if op in {"LIKE", "ILIKE"}:
            value = str(value).lower()
    operand = f"attributes.{key}" if entity == "attribute" else f"{entity}s.{_key(key)}"
    if op in {"IS NULL", "IS NOT NULL"}:
        return f"{operand} {op}"
    if isinstance(value, tuple):
        return f"{operand} {op} (" + ", ".join(_quote(v) for v in value) + ")"
    return f"{operand} {op} {_quote(value)}"


def translate_filter(text: str | None) -> str | None:
    """stackml filter text for an MLflow run filter (``None`` for no filter)."""
    if text is None or not text.strip():
        return None
    try:
        node = parse_filter(_rename_attributes(text))
    except MlflowError:
        raise
    except ValueError as exc:
        raise MlflowError(f"Invalid filter {text!r}: {exc}") from exc
    return None if node is None else _render(node)


def translate_order_by(items: Sequence[str]) -> list[str]:
    """stackml order keys for MLflow ``order_by`` entries."""
    translated = []
    for item in items:
        try:
            key = parse_order_by(_rename_attributes(item))
        except MlflowError:
            raise
        except ValueError as exc:
            raise MlflowError(f"Invalid order_by clause {item!r}: {exc}") from exc
        entity, name = key.entity, key.key
        if entity == "tag" and name in _TAG_ATTRIBUTES:
            entity, name = "attribute", _TAG_ATTRIBUTES[name]
        operand = f"attributes.{name}" if entity == "attribute" else f"{entity}s.{_key(name)}"
        translated.append(f"{operand} {'DESC' if key.descending else 'ASC'}")
    return translated


# -- experiments --------------------------------------------------------------------------
_EXPERIMENT_ATTRIBUTES = {"name", "creation_time", "last_update_time", "experiment_id"}
_CLAUSE = re.compile(r"\s+and\s+", re.IGNORECASE)


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts: list[str] = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile("".join(parts), flags)


class ExperimentFilter:
    """A predicate over MLflow JSON rows for the ``experiments``, ``registered-models`` and
    (with ``versions=True``) ``model-versions`` search filters: AND of comparisons on
    attributes and ``tags.KEY``."""

    def __init__(self, text: str, *, versions: bool = False) -> None:
        self.terms: list[Comparison] = []
        if not text.strip():
            return
        allowed = {"name", "run_id"} if versions else _EXPERIMENT_ATTRIBUTES
        renames = {"id": "run_id"} if versions else _FROM_STAND_INS
        # The run filter parser knows "name"; other attributes are swapped for a stand-in.
        swapped = text
        if not versions:
            swapped = re.sub(
                r"\b(?:attributes?\.)?(creation_time|last_update_time|experiment_id)\b",
                lambda m: f"attributes.{_STAND_INS[m.group(1)]}",
                text,
            )
        try:
            node = parse_filter(swapped)
        except ValueError as exc:
            raise MlflowError(f"Invalid search filter {text!r}: {exc}") from exc
        for term in _flatten(node, text):
            if term.entity == "attribute":
                key = renames.get(term.key, term.key)
                term = Comparison("attribute", key, term.op, term.value)
                if term.key not in allowed:
                    raise MlflowError(f"Invalid search filter attribute {term.key!r}.")
            elif term.entity != "tag":
                raise MlflowError("Search filters here support attributes and tags only.")
            self.terms.append(term)

    def __call__(self, row: dict[str, Any]) -> bool:
        tags = {t["key"]: t["value"] for t in row["tags"]}
        for term in self.terms:
            actual = tags.get(term.key) if term.entity == "tag" else row.get(term.key)
            if not _holds(actual, term.op, term.value):
                return False
        return True

    @staticmethod
    def sort(rows: list[dict[str, Any]], order_by: Sequence[str]) -> list[dict[str, Any]]:
        """Rows in ``order_by`` order (default: newest first, then id)."""
        keys = list(order_by) or ["creation_time DESC"]
        ordered = sorted(rows, key=lambda r: r["experiment_id"])
        for clause in reversed(keys):
            words = clause.split()
            if not words or len(words) > 2:
                raise MlflowError(f"Invalid order_by clause {clause!r}.")
            field = words[0].removeprefix("attributes.").removeprefix("attribute.")
            if field not in _EXPERIMENT_ATTRIBUTES:
                raise MlflowError(f"Invalid order_by field {field!r} for experiments.")
            descending = len(words) == 2 and words[1].upper() == "DESC"
            if len(words) == 2 and words[1].upper() not in {"ASC", "DESC"}:
                raise MlflowError(f"Invalid order_by clause {clause!r}.")
            ordered.sort(key=operator.itemgetter(field), reverse=descending)
        return ordered


_STAND_INS = {"creation_time": "start_time", "last_update_time": "end_time", "experiment_id": "id"}
_FROM_STAND_INS = {v: k for k, v in _STAND_INS.items()}


def _flatten(node: Node | None, text: str) -> list[Comparison]:
    if node is None:
        return []
    if isinstance(node, Comparison):
        return [node]
    if node.op != "and":
        raise MlflowError(f"Invalid experiment filter {text!r}: only AND is supported.")
    return [term for part in node.operands for term in _flatten(part, text)]


def _holds(actual: Any, op: str, expected: Any) -> bool:
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        # A missing tag differs from every value (MLflow's client itself filters models
        # with ``tags.`mlflow.prompt.is_prompt` != 'true'``).
        return op in {"!=", "NOT IN"}
    if op in {"LIKE", "ILIKE"}:
        return _like(str(expected), ignore_case=op == "ILIKE").fullmatch(str(actual)) is not None
    if op in {"IN", "NOT IN"}:
        return (actual in expected) == (op == "IN")
    if isinstance(expected, (int, float)) and not isinstance(actual, (int, float)):
        return False
    try:
        return {
            "=": actual == expected,
            "!=": actual != expected,
            "<": actual < expected,
            "<=": actual <= expected,
            ">": actual > expected,
            ">=": actual >= expected,
        }[op]
    except TypeError:
        return False
