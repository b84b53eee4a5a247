"""A helper module of the test package (its source is part of the steps' fingerprints)."""

from __future__ import annotations


def scale() -> int:
    return 1
