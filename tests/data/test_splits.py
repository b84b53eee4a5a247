"""Deterministic, seeded, stratified splits."""

from __future__ import annotations

from collections import Counter

import pytest

from stackml.data.splits import TWO_VALIDATION_SETS, assign_splits, parse_spec
from stackml.errors import InvalidInput


def test_same_seed_same_assignment_other_seed_differs() -> None:
    spec = {"train": 0.8, "val": 0.1, "test": 0.1}
    a = assign_splits(1000, spec, seed=3)
    assert a == assign_splits(1000, spec, seed=3)
    assert a != assign_splits(1000, spec, seed=4)
    assert Counter(a) == {"train": 800, "val": 100, "test": 100}


def test_stratified_keeps_label_proportions() -> None:
    labels = ["rare"] * 100 + ["common"] * 900
    assigned = assign_splits(1000, {"train": 0.5, "test": 0.5}, seed=0, labels=labels)
    rare = Counter(s for s, y in zip(assigned, labels, strict=True) if y == "rare")
    assert rare == {"train": 50, "test": 50}


def test_two_validation_set_layout() -> None:
    assert parse_spec("two-val") == TWO_VALIDATION_SETS
    counts = Counter(assign_splits(1000, TWO_VALIDATION_SETS, seed=0))
    assert counts == {"train": 700, "train_val": 100, "test_val": 100, "test": 100}


@pytest.mark.parametrize(
    "text", ["train=0.8,test=0.1", "train", "train=x", "train=1.5", "a b=1", "train=0"]
)
def test_bad_specs_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_spec(text)
