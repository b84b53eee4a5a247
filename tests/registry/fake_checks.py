"""Stands in for the checks package: registers the ``ml-test-score`` gate when imported."""

from __future__ import annotations

from stackml.registry.gates import GateResult, register_gate

IMPORTS: list[str] = []
IMPORTS.append(__name__)
register_gate("ml-test-score", lambda store, version: GateResult(True, [], {"score": 7}))
