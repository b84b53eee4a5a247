"""Automated evidence for the rubric's tests: one function per test id, in four modules.

A check takes a :class:`~stackml.checks.context.CheckContext` and returns a
:class:`~stackml.checks.context.Finding`. It passes only on evidence found in stackml's own
records; when the records are silent it fails and says what would earn the point.
"""

from __future__ import annotations

from collections.abc import Callable

from stackml.checks.context import CheckContext, Finding

__all__ = ["CHECKS", "Check", "automated"]

Check = Callable[[CheckContext], Finding]
CHECKS: dict[str, Check] = {}


def automated(test_id: str) -> Callable[[Check], Check]:
    """Register ``fn`` as the automated check of ``test_id``."""

    def wrap(fn: Check) -> Check:
        CHECKS[test_id] = fn
        return fn

    return wrap


def load_all() -> dict[str, Check]:
    """Every registered check (importing the section modules registers them)."""
    from stackml.checks.evidence import data, infra, model, monitoring  # noqa: F401

    return CHECKS
