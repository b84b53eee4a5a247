"""The ML Test Score rubric (Breck et al., 2017): 28 tests in four sections of seven.

Each test scores 0 (not done), 0.5 (done by hand: an attestation with evidence and an owner)
or 1 (automated and passing, from evidence in stackml's own records). A section scores the sum
of its tests; the final score is the **minimum** of the four sections, read against the
paper's bands (:func:`band`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BANDS", "SECTIONS", "TESTS", "RubricTest", "band", "test_by_id"]

SECTIONS = ("data", "model", "infrastructure", "monitoring")

#: (upper bound inclusive, label); a score above the last bound is "exceptional".
BANDS = (
    (0.0, "research project"),
    (1.0, "not totally untested"),
    (2.0, "first pass at production"),
    (3.0, "reasonably tested"),
    (5.0, "strong automation"),
)


@dataclass(frozen=True)
class RubricTest:
    """One of the 28 tests: an id such as ``data-1``, its section, title and what earns it."""

    id: str
    section: str
    title: str
    automated_by: str


_PREFIX = {"data": "data", "model": "model", "infrastructure": "infra", "monitoring": "monitor"}


def _t(section: str, n: int, title: str, how: str) -> RubricTest:
    return RubricTest(f"{_PREFIX[section]}-{n}", section, title, how)


TESTS: tuple[RubricTest, ...] = (
    _t(
        "data",
        1,
        "Feature expectations are captured in a schema",
        "the training dataset versions have a schema and pass validation",
    ),
    _t(
        "data",
        2,
        "All features are beneficial",
        "a feature-importance or ablation run exists in the project, or a sweep with importances",
    ),
    _t(
        "data",
        3,
        "No feature's cost is too much",
        "per-feature latency is recorded as metrics feature_cost/<feature> on the model's run",
    ),
    _t(
        "data",
        4,
        "Features adhere to meta-level requirements",
        "a disallowed-feature list is configured and no model input is on it",
    ),
    _t(
        "data",
        5,
        "The data pipeline has appropriate privacy controls",
        "PII columns are declared and none of them is a model input",
    ),
    _t(
        "data",
        6,
        "New features can be added quickly",
        "the time from the training data's version to this model version is within the limit",
    ),
    _t(
        "data",
        7,
        "All input feature code is tested",
        "the model version records that training and serving run the same transform",
    ),
    _t(
        "model",
        1,
        "Model specs are reviewed and submitted",
        "the training run records a git commit and a clean work tree",
    ),
    _t(
        "model",
        2,
        "Offline and online metrics correlate",
        "monitoring holds labeled windows whose accuracy is close to the offline accuracy",
    ),
    _t("model", 3, "All hyperparameters have been tuned", "a sweep exists in the model's project"),
    _t(
        "model",
        4,
        "The impact of model staleness is known",
        "the training data's age is known and an older version was evaluated beside this one",
    ),
    _t(
        "model",
        5,
        "A simpler model is not better",
        "the version's metrics beat every baseline of the project",
    ),
    _t(
        "model",
        6,
        "Model quality is sufficient on important data slices",
        "slice metrics slice/<name>/<metric> exist and meet the configured thresholds",
    ),
    _t(
        "model",
        7,
        "The model is tested for considerations of inclusion",
        "protected attributes are declared and slice metrics over them are within the parity gap",
    ),
    _t(
        "infrastructure",
        1,
        "Training is reproducible",
        "a stackml reproduce re-run of the training run agrees on its metrics",
    ),
    _t(
        "infrastructure",
        2,
        "Model specs are unit tested",
        "the project's test report (JUnit XML) shows tests and no failures",
    ),
    _t(
        "infrastructure",
        3,
        "The ML pipeline is integration tested",
        "an end-to-end pipeline run of the project succeeded",
    ),
    _t(
        "infrastructure",
        4,
        "Model quality is validated before serving",
        "a promotion gate guards the production alias of the model",
    ),
    _t(
        "infrastructure",
        5,
        "The model is debuggable",
        "a single prediction of this version was traced (a logged request with inputs and outputs)",
    ),
    _t(
        "infrastructure",
        6,
        "Models are canaried before serving",
        "a deployment served this version as a canary or shadow",
    ),
    _t(
        "infrastructure",
        7,
        "Serving models can be rolled back",
        "an alias of the model was rolled back to an earlier version",
    ),
    _t(
        "monitoring",
        1,
        "Dependency changes result in notification",
        "the run's captured environment is diffed against the previous version's",
    ),
    _t(
        "monitoring",
        2,
        "Data invariants hold for inputs",
        "serving validates requests against the schema and a data-quality monitor is defined",
    ),
    _t(
        "monitoring",
        3,
        "Training and serving are not skewed",
        "an exported artefact passed a parity check against the training framework",
    ),
    _t(
        "monitoring",
        4,
        "Models are not too stale",
        "the model version is younger than the configured maximum age",
    ),
    _t(
        "monitoring",
        5,
        "Models are numerically stable",
        "a monitor checks the deployment for NaN/Inf and missing values",
    ),
    _t(
        "monitoring",
        6,
        "Computing performance has not regressed",
        "training time, latency and size are within tolerance of the previous version's",
    ),
    _t(
        "monitoring",
        7,
        "Prediction quality has not regressed",
        "the latest labeled monitoring window is no worse than the offline metric",
    ),
)

_BY_ID = {t.id: t for t in TESTS}


def test_by_id(test_id: str) -> RubricTest:
    """The rubric test called ``test_id`` (``data-1`` … ``monitor-7``). Raises ``KeyError``."""
    return _BY_ID[test_id]


def band(score: float) -> str:
    """The paper's label for a final score."""
    for upper, label in BANDS:
        if score <= upper:
            return label
    return "exceptional"
