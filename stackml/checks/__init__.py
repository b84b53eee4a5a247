"""The ML Test Score: a production-readiness rubric scored from stackml's own records.

``check("digits@3")`` scores a model version (see :mod:`stackml.checks.rubric` for the 28
tests and :mod:`stackml.checks.config` for ``stackml-checks.yaml`` and attestations).
Importing this package registers the ``ml-test-score`` promotion gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackml.checks import gate as _gate
from stackml.checks.config import Attestation, ChecksConfig, load_config, parse_attestations
from stackml.checks.context import CheckContext, Finding
from stackml.checks.rubric import SECTIONS, TESTS, band
from stackml.checks.scoring import Scorecard, TestResult, evaluate

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = [
    "SECTIONS",
    "TESTS",
    "Attestation",
    "CheckContext",
    "ChecksConfig",
    "Finding",
    "Scorecard",
    "TestResult",
    "band",
    "check",
    "evaluate",
    "load_config",
    "parse_attestations",
]


def check(ref: str, *, store: Store | None = None, config: ChecksConfig | None = None) -> Scorecard:
    """Score the model version ``ref`` (``NAME@N``, ``NAME@ALIAS`` or ``NAME``)."""
    from stackml.registry import resolve
    from stackml.tracking.api import get_store

    store = store if store is not None else get_store()
    name, version = resolve(ref, store)
    model_version = store.metadata.get_model_version(name, version)
    if config is None:
        config = load_config(store_root=store.location.root)
    return evaluate(CheckContext(store, model_version, config))


_gate.register()
