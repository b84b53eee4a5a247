"""Fixture projects with and without each piece of evidence score exactly as expected."""

from __future__ import annotations

from pathlib import Path

import pytest

import stackml
from stackml.checks import CheckContext, ChecksConfig, Scorecard, evaluate
from stackml.checks.config import parse_attestations
from stackml.checks.rubric import SECTIONS, TESTS, band
from stackml.registry import promote, rollback, set_gates
from stackml.store import Store
from stackml.store.registry_base import ModelVersion
from tests.checks.conftest import PROJECT, Trained, train_and_register


def _card(store: Store, version: ModelVersion, **config: object) -> Scorecard:
    fresh = store.metadata.get_model_version(version.model, version.version)
    return evaluate(CheckContext(store, fresh, ChecksConfig(**config)), attestations={})


def _scores(card: Scorecard) -> dict[str, float]:
    return {r.test.id: r.score for r in card.results}


def test_rubric_has_28_tests_in_four_sections_of_seven() -> None:
    assert len(TESTS) == 28 and len({t.id for t in TESTS}) == 28
    for section in SECTIONS:
        assert sum(t.section == section for t in TESTS) == 7


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0, "research project"),
        (0.5, "not totally untested"),
        (1, "not totally untested"),
        (1.5, "first pass at production"),
        (2.5, "reasonably tested"),
        (3, "reasonably tested"),
        (4, "strong automation"),
        (5, "strong automation"),
        (5.5, "exceptional"),
    ],
)
def test_bands_follow_the_paper(score: float, label: str) -> None:
    assert band(score) == label


def test_bare_version_scores_only_what_its_records_prove(trained: Trained) -> None:
    card = _card(trained.store, trained.version)
    scores = _scores(card)
    # A dataset with a schema that validates, and the data -> model lead time, are recorded;
    # the version is fresh. Nothing else is.
    assert {k for k, v in scores.items() if v == 1} == {"data-1", "data-6", "monitor-4"}
    assert card.sections == {"data": 2, "model": 0, "infrastructure": 0, "monitoring": 1}
    assert card.score == 0 and card.band == "research project"


def test_version_without_dataset_loses_the_data_evidence(store: Store) -> None:
    version, _ = train_and_register(store, with_dataset=False)
    scores = _scores(_card(store, version))
    assert scores["data-1"] == 0 and scores["data-6"] == 0 and scores["model-4"] == 0


def test_each_piece_of_evidence_earns_its_test(trained: Trained, tmp_path: Path) -> None:
    store, v1 = trained.store, trained.version
    meta = store.metadata
    before = _scores(_card(store, v1))
    # Baselines beaten, a sweep-free project: model-5 only.
    meta.set_baseline(PROJECT, "majority", kind="internal", metrics={"accuracy": 0.4}, source="x")
    # Feature importance run, feature cost, slice metrics.
    with stackml.start_run(project=PROJECT, tags={"stackml.purpose": "ablation"}):
        pass
    run = stackml.get_run(trained.run_id)
    assert run.project == PROJECT
    meta.log_params(trained.run_id, {})  # the run stays readable after more writes
    # A re-run that reproduces the training run's metrics.
    with stackml.start_run(project=PROJECT, tags={"stackml.reproduces": trained.run_id}) as re:
        re.log_metrics({"accuracy": 0.9, "train_time_s": 1.3})
    # JUnit report with passing tests.
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuite name="t" tests="4" failures="0" errors="0"></testsuite>')
    # A gate on production, a second version, a promotion and a rollback.
    set_gates(PROJECT, ["metric:accuracy>=0.5"], store=store)
    v2, _ = train_and_register(store, accuracy=0.91, commit="abc1234def")
    promote(f"{PROJECT}@{v1.version}", store=store, reason="first")
    promote(f"{PROJECT}@{v2.version}", store=store, reason="better")
    rollback(PROJECT, store=store, reason="bad canary")

    card = _card(store, v2, junit=str(junit))
    after = _scores(card)
    assert before["model-5"] == 0 and after["model-5"] == 1
    assert after["data-2"] == 1  # the ablation run
    assert after["infra-2"] == 1  # 4 tests pass
    assert after["infra-4"] == 1  # gate configured
    assert after["infra-7"] == 1  # rolled back
    assert after["model-1"] == 1  # clean commit recorded
    assert after["model-4"] == 1  # v1 to compare with, data age known
    assert after["monitor-1"] == 1  # environment diffed against v1
    assert after["monitor-6"] == 1  # no slower, no bigger than v1
    # v2's run has no reproduction; v1's has.
    assert after["infra-1"] == 0
    assert _scores(_card(store, v1))["infra-1"] == 1


def test_failing_evidence_scores_zero(trained: Trained, tmp_path: Path) -> None:
    store = trained.store
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuite name="t" tests="4" failures="1" errors="0"></testsuite>')
    store.metadata.set_baseline(
        PROJECT, "human", kind="human", metrics={"accuracy": 0.99}, source="x"
    )
    with stackml.start_run(project=PROJECT, tags={"stackml.reproduces": trained.run_id}) as re:
        re.log_metrics({"accuracy": 0.5})
    scores = _scores(_card(store, trained.version, junit=str(junit), max_model_age_days=1e-9))
    assert scores["infra-2"] == 0  # a failing test
    assert scores["model-5"] == 0  # the human baseline is better
    assert scores["infra-1"] == 0  # the re-run disagrees
    assert scores["monitor-4"] == 0  # older than the (tiny) maximum age


def test_declarations_are_checked_against_the_signature(trained: Trained) -> None:
    store, version = trained.store, trained.version
    names = CheckContext(store, version).feature_names
    assert "alcohol" in names  # the signature carries the dataset's feature schema
    ok = _scores(_card(store, version, disallowed_features=["ssn"], pii_columns=["email"]))
    assert ok["data-4"] == 1 and ok["data-5"] == 1
    bad = _scores(_card(store, version, disallowed_features=["alcohol"], pii_columns=["hue"]))
    assert bad["data-4"] == 0 and bad["data-5"] == 0
    empty = _scores(_card(store, version, disallowed_features=[], pii_columns=[]))
    assert empty["data-4"] == 0 and empty["data-5"] == 0  # an empty claim is not evidence


def test_attestations_earn_half_and_never_override_automation(trained: Trained) -> None:
    attested = parse_attestations(
        [
            {"test": "data-7", "owner": "ana", "evidence": "reviewed in PR 4"},
            {"test": "monitor-4", "owner": "ana", "evidence": "we retrain weekly"},
        ]
    )
    ctx = CheckContext(trained.store, trained.version, ChecksConfig())
    scores = _scores(evaluate(ctx, attested))
    assert scores["data-7"] == 0.5
    assert scores["monitor-4"] == 1  # automated evidence wins


def test_slices_and_parity(trained: Trained) -> None:
    store = trained.store
    stackml.get_run(trained.run_id)
    run = store.metadata
    from stackml.store.entities import MetricPoint

    run.log_metrics(
        trained.run_id,
        [
            MetricPoint("slice/sex:f/accuracy", 0.90, 0, 0),
            MetricPoint("slice/sex:m/accuracy", 0.88, 0, 0),
            MetricPoint("slice/night/accuracy", 0.80, 0, 0),
        ],
    )
    good = _scores(
        _card(
            store,
            trained.version,
            slice_thresholds={"accuracy": 0.75},
            protected_attributes=["sex"],
            max_parity_gap=0.05,
        )
    )
    assert good["model-6"] == 1 and good["model-7"] == 1
    bad = _scores(
        _card(
            store,
            trained.version,
            slice_thresholds={"accuracy": 0.85},
            protected_attributes=["sex"],
            max_parity_gap=0.01,
        )
    )
    assert bad["model-6"] == 0 and bad["model-7"] == 0


def test_final_score_is_the_lowest_section(trained: Trained) -> None:
    attested = parse_attestations(
        [
            {"test": t.id, "owner": "ana", "evidence": "by hand"}
            for t in TESTS
            if t.section != "model"
        ]
    )
    card = evaluate(CheckContext(trained.store, trained.version, ChecksConfig()), attested)
    assert card.sections["model"] == 0
    assert card.sections["data"] >= 3.5
    assert card.score == 0
