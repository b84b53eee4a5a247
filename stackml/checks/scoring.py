"""Scoring: run every automated check, add attestations, sum sections, take the minimum."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackml.checks.config import Attestation, ChecksConfig, load_attestations
from stackml.checks.context import CheckContext, Finding
from stackml.checks.evidence import load_all
from stackml.checks.rubric import SECTIONS, TESTS, RubricTest, band

__all__ = ["Scorecard", "TestResult", "evaluate"]


@dataclass(frozen=True)
class TestResult:
    """One test's score (0, 0.5 or 1), how it was earned and the evidence."""

    test: RubricTest
    score: float
    how: str  # "automated", "attested" or "missing"
    detail: str
    attestation: Attestation | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "id": self.test.id,
            "section": self.test.section,
            "title": self.test.title,
            "score": self.score,
            "how": self.how,
            "detail": self.detail,
            "automated_by": self.test.automated_by,
            "attestation": None
            if self.attestation is None
            else self.attestation.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Scorecard:
    """Scores of a model version: every test, each section, the final score and its band."""

    model: str
    version: int
    results: tuple[TestResult, ...]
    min_score: float = 0.0
    sections: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """The final score: the minimum over the four sections."""
        return min(self.sections.values())

    @property
    def band(self) -> str:
        """The paper's label for :attr:`score`."""
        return band(self.score)

    @property
    def passed(self) -> bool:
        """Whether the final score reaches ``min_score``."""
        return self.score >= self.min_score

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (what ``stackml check --format json`` prints)."""
        return {
            "model": self.model,
            "version": self.version,
            "score": self.score,
            "band": self.band,
            "min_score": self.min_score,
            "passed": self.passed,
            "sections": dict(self.sections),
            "tests": [r.to_dict() for r in self.results],
        }


def _score_one(
    test: RubricTest, finding: Finding | None, attestation: Attestation | None
) -> TestResult:
    if finding is not None and finding.passed:
        return TestResult(test, 1.0, "automated", finding.detail, attestation)
    if attestation is not None:
        return TestResult(test, 0.5, "attested", attestation.evidence, attestation)
    detail = finding.detail if finding is not None else "not automated; attest it by hand"
    return TestResult(test, 0.0, "missing", detail)


def evaluate(ctx: CheckContext, attestations: dict[str, Attestation] | None = None) -> Scorecard:
    """Score ``ctx.version`` against the rubric.

    A test scores 1 only when its automated check passes on stackml's records, 0.5 when an
    attestation covers it, else 0. A check that raises counts as not passing, with the error
    as its evidence, so one broken record never hides the rest of the report.
    """
    checks = load_all()
    if attestations is None:
        attestations = load_attestations(ctx.config)
    results = []
    for test in TESTS:
        check = checks.get(test.id)
        finding = None
        if check is not None:
            try:
                finding = check(ctx)
            except Exception as exc:
                finding = Finding(False, f"check failed: {type(exc).__name__}: {exc}")
        results.append(_score_one(test, finding, attestations.get(test.id)))
    sections = {s: sum(r.score for r in results if r.test.section == s) for s in SECTIONS}
    return Scorecard(
        ctx.version.model,
        ctx.version.version,
        tuple(results),
        min_score=ctx.config.min_score,
        sections=sections,
    )


def config_or_default(config: ChecksConfig | None) -> ChecksConfig:
    """``config``, or the ``stackml-checks.yaml`` of the current folder, or defaults."""
    from stackml.checks.config import load_config

    return config if config is not None else load_config()
