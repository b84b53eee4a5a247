"""The ML Test Score as a promotion gate: ``ml-test-score`` or ``ml-test-score:<min>``.

Importing :mod:`stackml.checks` registers it with :mod:`stackml.registry.gates`, so a
registered model whose ``production`` gates list ``"ml-test-score:2"`` can only be promoted
when its version scores at least 2 (without a number, ``min_score`` of the project's
``stackml-checks.yaml`` applies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackml.checks.config import load_config
from stackml.checks.context import CheckContext
from stackml.checks.scoring import evaluate
from stackml.errors import InvalidInput
from stackml.registry.gates import Gate, GateResult, register_gate, register_gate_factory

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.registry_base import ModelVersion

__all__ = ["ml_test_score_gate"]

GATE_NAME = "ml-test-score"


def ml_test_score_gate(min_score: float | None = None) -> Gate:
    """A gate that passes when the version's final score reaches ``min_score``."""

    def gate(store: Store, version: ModelVersion) -> GateResult:
        config = load_config(store_root=store.location.root)
        threshold = config.min_score if min_score is None else min_score
        card = evaluate(CheckContext(store, version, config))
        missing = [r.test.id for r in card.results if r.score == 0]
        passed = card.score >= threshold
        reasons = (
            []
            if passed
            else [
                f"ML Test Score {card.score:g} ({card.band}) is below {threshold:g}; "
                f"tests without evidence: {', '.join(missing)}"
            ]
        )
        return GateResult(
            passed,
            reasons,
            {
                "score": card.score,
                "band": card.band,
                "sections": card.sections,
                "threshold": threshold,
            },
        )

    return gate


def _factory(argument: str) -> Gate:
    try:
        value = float(argument)
    except ValueError as exc:
        raise InvalidInput(f"{GATE_NAME}:{argument}: the argument must be a number") from exc
    return ml_test_score_gate(value)


def register() -> None:
    """Register the gate (idempotent)."""
    register_gate(GATE_NAME, ml_test_score_gate())
    register_gate_factory(GATE_NAME, _factory)
