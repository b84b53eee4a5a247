"""Expectations on a table, written as YAML, and the validation report they produce.

::

    row_count: {min: 100, max: 100000}
    columns:
      age:   {not_null: true, min: 0, max: 120}
      label: {allowed: [cat, dog]}
      id:    {unique: true}
      email: {regex: '^[^@]+@[^@]+$'}

:func:`suggest` writes a starting point from a version's :class:`~stackml.data.schema.Schema`;
:func:`validate` checks a table against expectations and, optionally, a reference schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stackml.data.schema import Schema, as_arrow
from stackml.errors import InvalidInput

_COLUMN_RULES = {"not_null", "unique", "min", "max", "allowed", "regex"}


@dataclass(frozen=True)
class Check:
    """One expectation and whether the data met it."""

    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class ValidationReport:
    """Every check made; ``ok`` when all passed."""

    target: str
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def render(self) -> str:
        """A readable plain-text report."""
        lines = [f"validation of {self.target}: {'PASSED' if self.ok else 'FAILED'}"]
        for check in self.checks:
            mark = "ok  " if check.passed else "FAIL"
            lines.append(f"  {mark} {check.name}" + (f" - {check.detail}" if check.detail else ""))
        return "\n".join(lines)


def parse(text: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse and check expectations YAML (or an already-parsed mapping)."""
    if isinstance(text, str):
        import yaml

        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise InvalidInput(f"expectations are not valid YAML: {error}") from error
    else:
        doc = dict(text)
    if not isinstance(doc, Mapping):
        raise InvalidInput("expectations must be a YAML mapping")
    unknown = set(doc) - {"row_count", "columns"}
    if unknown:
        raise InvalidInput(f"unknown expectation keys {sorted(unknown)}: use row_count, columns")
    for name, rules in (doc.get("columns") or {}).items():
        if not isinstance(rules, Mapping):
            raise InvalidInput(f"expectations for column {name!r} must be a mapping")
        bad = set(rules) - _COLUMN_RULES
        if bad:
            raise InvalidInput(f"unknown rules {sorted(bad)} for column {name!r}")
        if "regex" in rules:
            try:
                re.compile(str(rules["regex"]))
            except re.error as error:
                raise InvalidInput(f"bad regex for column {name!r}: {error}") from error
    return dict(doc)


def suggest(schema: Schema) -> str:
    """Expectations YAML matching a schema's statistics (a starting point to edit)."""
    import yaml

    columns: dict[str, Any] = {}
    for col in schema.columns:
        rules: dict[str, Any] = {}
        if not col.nullable:
            rules["not_null"] = True
        if col.stats and col.type in {"int", "float"} and col.stats.min is not None:
            rules["min"], rules["max"] = col.stats.min, col.stats.max
        if col.type == "category" and col.domain:
            rules["allowed"] = list(col.domain)
        columns[col.name] = rules
    doc: dict[str, Any] = {"columns": columns}
    if schema.num_rows:
        doc["row_count"] = {"min": 1}
    return yaml.safe_dump(doc, sort_keys=False)


def _column_checks(table: pa.Table, name: str, rules: Mapping[str, Any]) -> list[Check]:
    if name not in table.column_names:
        return [Check(f"column {name} exists", False, "column is missing")]
    data = table.column(name)
    checks: list[Check] = []
    if rules.get("not_null"):
        n = data.null_count
        checks.append(Check(f"{name} not null", n == 0, f"{n} missing values" if n else ""))
    if rules.get("unique"):
        dupes = len(data) - data.null_count - len(pc.unique(data.drop_null()))
        checks.append(Check(f"{name} unique", dupes == 0, f"{dupes} duplicates" if dupes else ""))
    for bound, op in (("min", pc.less), ("max", pc.greater)):
        if bound in rules:
            try:
                bad = pc.sum(op(data, pa.scalar(rules[bound]).cast(data.type))).as_py() or 0
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                checks.append(Check(f"{name} {bound} {rules[bound]}", False, str(error)))
                continue
            detail = f"{bad} rows out of range" if bad else ""
            checks.append(Check(f"{name} {bound} {rules[bound]}", bad == 0, detail))
    if "allowed" in rules:
        allowed = {str(v) for v in rules["allowed"]}
        values = set(pc.unique(data.cast(pa.string())).to_pylist()) - {None}
        extra = sorted(values - allowed)
        checks.append(
            Check(f"{name} allowed values", not extra, f"unexpected {extra[:5]}" if extra else "")
        )
    if "regex" in rules:
        pattern = str(rules["regex"])
        matched = pc.match_substring_regex(data.cast(pa.string()), pattern)
        bad = int(pc.sum(pc.invert(matched.fill_null(True))).as_py() or 0)
        checks.append(
            Check(f"{name} matches {pattern}", bad == 0, f"{bad} rows differ" if bad else "")
        )
    return checks


def validate(
    table: Any,
    *,
    target: str,
    expectations: Mapping[str, Any] | None = None,
    reference: Schema | None = None,
) -> ValidationReport:
    """Check ``table`` against expectations and, if given, a reference schema."""
    table = as_arrow(table)
    doc = parse(expectations or {})
    checks: list[Check] = []
    if reference is not None:
        problems = reference.validate(table)
        checks.append(Check("schema matches reference", not problems, "; ".join(problems)))
    bounds = doc.get("row_count") or {}
    n = table.num_rows
    if "min" in bounds:
        checks.append(Check(f"row count >= {bounds['min']}", n >= int(bounds["min"]), f"{n} rows"))
    if "max" in bounds:
        checks.append(Check(f"row count <= {bounds['max']}", n <= int(bounds["max"]), f"{n} rows"))
    for name, rules in (doc.get("columns") or {}).items():
        checks.extend(_column_checks(table, str(name), rules))
    return ValidationReport(target, tuple(checks))
