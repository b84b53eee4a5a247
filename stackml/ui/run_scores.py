"""The runs table's score column: each run's score under its project's metric definition and
the difference to the project's best baseline.

Only the runs on the page are scored, from the latest metric values ``search_runs`` already
loaded; the definition and the baselines are read once per project on the page (a filtered
table shows one project: two queries), never once per run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stackml.errors import NotFound, StackmlError
from stackml.store.base import MetadataStore
from stackml.store.entities import Run
from stackml.store.training_base import Baseline, MetricDefinition, evaluate_definition

__all__ = ["ProjectScoring", "RunScore", "score_runs"]


@dataclass(frozen=True)
class RunScore:
    """A run's score and, when the project has a scorable baseline, its delta to the best."""

    score: float | None
    goal: str
    baseline: str | None = None
    baseline_score: float | None = None

    @property
    def delta(self) -> float | None:
        """Score minus the best baseline's score (``None`` when either is missing)."""
        if self.score is None or self.baseline_score is None:
            return None
        return self.score - self.baseline_score

    @property
    def better(self) -> bool | None:
        """Whether the run beats the best baseline in the definition's direction."""
        delta = self.delta
        if delta is None or delta == 0:
            return None
        return delta > 0 if self.goal == "max" else delta < 0


@dataclass(frozen=True)
class ProjectScoring:
    """A project's definition and its best baseline under that definition."""

    definition: MetricDefinition
    best_name: str | None = None
    best_score: float | None = None


def _score(definition: MetricDefinition, metrics: dict[str, float]) -> float | None:
    try:
        return evaluate_definition(definition, metrics)
    except (ArithmeticError, StackmlError):  # e.g. a division by a zero metric
        return None


def best_baseline(
    definition: MetricDefinition, baselines: Iterable[Baseline]
) -> tuple[str | None, float | None]:
    """The name and score of the baseline scoring best under ``definition``."""
    scored = [(_score(definition, dict(b.metrics)), b.name) for b in baselines]
    found = [(s, name) for s, name in scored if s is not None]
    if not found:
        return None, None
    pick = max if definition.goal == "max" else min
    score, name = pick(found, key=lambda pair: pair[0])
    return name, score


def project_scoring(store: MetadataStore, project: str) -> ProjectScoring | None:
    """What scoring ``project``'s runs needs; ``None`` when it has no metric definition."""
    try:
        definition = store.get_metric_definition(project)
    except (NotFound, StackmlError):
        return None
    try:
        baselines = store.list_baselines(project)
    except StackmlError:
        baselines = []
    name, score = best_baseline(definition, baselines)
    return ProjectScoring(definition, name, score)


def score_runs(store: MetadataStore, runs: Iterable[Run]) -> dict[str, RunScore]:
    """Scores of the runs whose project has a metric definition, by run id."""
    runs = list(runs)
    projects = {p: project_scoring(store, p) for p in dict.fromkeys(r.project for r in runs)}
    scores = {}
    for run in runs:
        scoring = projects[run.project]
        if scoring is None:
            continue
        latest = {key: summary.latest for key, summary in run.metrics.items()}
        scores[run.id] = RunScore(
            score=_score(scoring.definition, latest),
            goal=scoring.definition.goal,
            baseline=scoring.best_name,
            baseline_score=scoring.best_score,
        )
    return scores
