"""Deterministic, seeded, optionally stratified splits of a table's rows.

A split spec maps split names to fractions, e.g. ``{"train": 0.8, "val": 0.1, "test": 0.1}``.
Rows are shuffled with a seeded generator (per label when stratified, so each split keeps the
label proportions) and cut by cumulative fractions; the same rows, spec and seed always give
the same assignment. The result is a column of split names stored with the table.

The two-validation-set layout (:data:`TWO_VALIDATION_SETS`) keeps a validation set drawn from
the training distribution (``train_val``) apart from one drawn from the test distribution
(``test_val``): a gap between train and ``train_val`` is variance, a gap between
``train_val`` and ``test_val`` is distribution shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stackml.errors import InvalidInput

SPLIT_COLUMN = "split"
TWO_VALIDATION_SETS = {"train": 0.7, "train_val": 0.1, "test_val": 0.1, "test": 0.1}


def parse_spec(text: str) -> dict[str, float]:
    """Parse ``train=0.8,val=0.1,test=0.1`` (or the word ``two-val``)."""
    if text.strip() in {"two-val", "two_val"}:
        return dict(TWO_VALIDATION_SETS)
    spec: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"bad split {part!r}: write NAME=FRACTION, e.g. train=0.8")
        try:
            spec[name.strip()] = float(value)
        except ValueError as error:
            raise InvalidInput(f"bad split fraction {value!r} for {name.strip()!r}") from error
    return check_spec(spec)


def check_spec(spec: Mapping[str, float]) -> dict[str, float]:
    """Validate fractions: each in (0, 1], summing to 1 (within rounding)."""
    if not spec:
        raise InvalidInput("a split spec needs at least one split")
    for name, frac in spec.items():
        if not name.replace("_", "").replace("-", "").isalnum():
            raise InvalidInput(f"split name {name!r} must be letters, digits, '_' or '-'")
        if not 0 < float(frac) <= 1:
            raise InvalidInput(f"split {name!r} has fraction {frac}; use a number in (0, 1]")
    total = sum(spec.values())
    if abs(total - 1.0) > 1e-6:
        raise InvalidInput(f"split fractions sum to {total:g}; they must sum to 1")
    return {k: float(v) for k, v in spec.items()}


def _cut(indices: np.ndarray, spec: Mapping[str, float], out: np.ndarray, names: list[str]) -> None:
    n = len(indices)
    bounds = np.round(np.cumsum([spec[s] for s in names]) * n).astype(int)
    start = 0
    for code, end in enumerate(bounds):
        out[indices[start:end]] = code
        start = end


def assign_splits(
    n_rows: int,
    spec: Mapping[str, float],
    *,
    seed: int = 0,
    labels: Sequence[object] | np.ndarray | None = None,
) -> list[str]:
    """The split name of every row, deterministic in ``(n_rows, spec, seed, labels)``."""
    spec = check_spec(spec)
    names = list(spec)
    codes = np.zeros(n_rows, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if labels is None:
        _cut(rng.permutation(n_rows), spec, codes, names)
    else:
        label_arr = np.asarray([str(v) for v in labels])
        if len(label_arr) != n_rows:
            raise InvalidInput("the label column must have one value per row")
        for value in sorted(set(label_arr.tolist())):
            members = np.flatnonzero(label_arr == value)
            _cut(members[rng.permutation(len(members))], spec, codes, names)
    return [names[c] for c in codes]


def split_summary(assigned: Sequence[str]) -> dict[str, int]:
    """Rows per split."""
    counts: dict[str, int] = {}
    for name in assigned:
        counts[name] = counts.get(name, 0) + 1
    return counts
