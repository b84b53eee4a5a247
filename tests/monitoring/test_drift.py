"""Drift statistics: parity with SciPy, detection power and false-alarm control."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial import distance

from stackml.errors import InvalidInput
from stackml.monitoring import (
    CategoricalReference,
    ChiSquareTest,
    JensenShannonTest,
    KSTest,
    MonitorSpec,
    NumericReference,
    PSITest,
    Reference,
    WassersteinTest,
    adjust,
    evaluate_window,
    make_test,
)
from stackml.monitoring.sketch import sketch_categorical, sketch_numeric
from tests.monitoring.conftest import log_table


@pytest.mark.parametrize("seed", range(6))
def test_ks_and_wasserstein_match_scipy_on_exact_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = np.round(rng.normal(size=rng.integers(50, 3000)), rng.integers(1, 4))
    cur = np.round(rng.normal(rng.uniform(-0.3, 0.3), size=rng.integers(50, 20_000)), 2)
    sketch = sketch_numeric(NumericReference.from_values("x", ref), cur)
    assert sketch.ref.exact
    ks = KSTest().compare(sketch)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert ks.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    w = WassersteinTest(normed=False).compare(sketch)
    assert w.statistic == pytest.approx(stats.wasserstein_distance(ref, cur), abs=1e-9)
    normed = WassersteinTest().compare(sketch)
    assert normed.statistic == pytest.approx(w.statistic / np.std(ref), abs=1e-9)


def test_ks_matches_scipy_with_ties_and_values_outside_the_reference() -> None:
    ref = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    cur = np.array([0.0, 1.0, 1.5, 2.0, 2.0, 4.0, 5.0])
    ks = KSTest().compare(sketch_numeric(NumericReference.from_values("x", ref), cur))
    assert ks.statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)


def test_chisquare_matches_scipy() -> None:
    ref = CategoricalReference("c", {"a": 200, "b": 300, "c": 500})
    cur = ["a"] * 70 + ["b"] * 90 + ["c"] * 140
    result = ChiSquareTest().compare(sketch_categorical(ref, cur))
    expected = stats.chisquare([70, 90, 140], np.array([0.2, 0.3, 0.5]) * 300)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_psi_and_jensen_shannon_on_categories() -> None:
    ref = CategoricalReference("c", {"a": 500, "b": 500})
    sk = sketch_categorical(ref, ["a"] * 900 + ["b"] * 100)
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    assert PSITest().compare(sk).statistic == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    js = JensenShannonTest().compare(sk)
    assert js.statistic == pytest.approx(distance.jensenshannon(p, q), abs=1e-9)
    assert js.drifted and PSITest().compare(sk).drifted


def test_unseen_categories_raise_chisquare_and_count_as_quality_problem() -> None:
    ref = Reference({"c": CategoricalReference("c", {"a": 50, "b": 50})})
    table = log_table({"c": ["a"] * 40 + ["b"] * 40 + ["z"] * 20})
    report = evaluate_window(table, ref, MonitorSpec("d", categorical_tests=("chi2",)))
    assert report.drifted_features == ("c",)
    assert report.stats["quality.c.unseen_rate"] == pytest.approx(0.2)
    assert any("unseen" in v for v in report.violations)


def test_binned_reference_tracks_raw_statistics() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=200_000), rng.normal(0.2, 1.1, size=100_000)
    sketch = sketch_numeric(NumericReference.from_values("x", ref, max_exact=100, bins=512), cur)
    assert not sketch.ref.exact
    raw = stats.ks_2samp(ref, cur)
    assert KSTest().compare(sketch).statistic == pytest.approx(raw.statistic, abs=0.01)
    w = WassersteinTest(normed=False).compare(sketch).statistic
    assert w == pytest.approx(stats.wasserstein_distance(ref, cur), rel=0.02)


def test_reference_from_dataset_schema_histogram() -> None:
    from stackml.data.schema import infer_schema

    rng = np.random.default_rng(0)
    table = pa.table({"a": rng.normal(size=5000), "c": rng.choice(["x", "y"], 5000)})
    ref = Reference.from_schema(infer_schema(table).to_dict())
    assert not ref.columns["a"].exact and isinstance(ref.columns["c"], CategoricalReference)
    same = log_table({"a": rng.normal(size=2000), "c": ["x", "y"] * 1000})
    shifted = log_table({"a": rng.normal(1.0, size=2000), "c": ["x", "y"] * 1000})
    spec = MonitorSpec("d")
    assert evaluate_window(same, ref, spec).drifted_features == ()
    assert evaluate_window(shifted, ref, spec).drifted_features == ("a",)


def _features(rng: np.random.Generator, n: int, shift: dict[int, float]) -> dict[str, np.ndarray]:
    return {f"x{i}": rng.normal(shift.get(i, 0.0), 1.0, size=n) for i in range(20)}


def test_no_false_alarms_across_twenty_features_over_many_seeds() -> None:
    """Per window, P(any false alarm) stays at or below alpha with the correction."""
    alpha, windows = 0.05, 120
    rng = np.random.default_rng(42)
    ref = Reference.from_table(pa.table(_features(rng, 2000, {})), max_exact=5000)
    alarms = {"bh": 0, "bonferroni": 0, "none": 0}
    spec = MonitorSpec("d", numeric_tests=("ks",), alpha=alpha, correction="bh")
    for _ in range(windows):
        report = evaluate_window(log_table(_features(rng, 500, {})), ref, spec)
        alarms["bh"] += bool(report.drifted_features)
        raw = [c.p_value for c in report.checks]
        for method in ("bonferroni", "none"):
            alarms[method] += bool((adjust(raw, method) < alpha).any())
    # Binomial(120, 0.05): mean 6, 99.9% quantile 15. Without correction ~64% of windows alarm.
    assert alarms["bonferroni"] <= 15 and alarms["bh"] <= 15
    assert alarms["none"] > 40


def test_real_shift_in_two_columns_is_flagged_and_only_those() -> None:
    rng = np.random.default_rng(7)
    ref = Reference.from_table(pa.table(_features(rng, 5000, {})))
    table = log_table(_features(rng, 2000, {3: 0.4, 11: -0.5}))
    for method in ("bh", "bonferroni"):
        report = evaluate_window(table, ref, MonitorSpec("d", correction=method))
        assert set(report.drifted_features) == {"x3", "x11"}
        assert report.stats["drift_share"] == pytest.approx(0.1)
        assert not report.dataset_drift


def test_adjust_matches_known_values() -> None:
    p = [0.01, 0.04, 0.03, 0.20]
    assert adjust(p, "bonferroni").tolist() == pytest.approx([0.04, 0.16, 0.12, 0.8])
    assert adjust(p, "bh").tolist() == pytest.approx([0.04, 0.0533333, 0.0533333, 0.2], rel=1e-5)
    with pytest.raises(InvalidInput):
        adjust(p, "holm")


def test_unknown_test_and_bad_spec_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        make_test("nope")
    with pytest.raises(InvalidInput):
        MonitorSpec.from_dict({"deployment": "d", "alpha": 2})
    with pytest.raises(InvalidInput):
        MonitorSpec.from_dict({"deployment": "d", "window": {"kind": "weekly"}})
    with pytest.raises(InvalidInput):
        MonitorSpec.from_dict({"deployment": "d", "unknown": 1})


def test_reference_round_trips_through_json() -> None:
    import json

    rng = np.random.default_rng(1)
    table = pa.table({"a": rng.normal(size=9000), "b": rng.integers(0, 5, 9000), "c": ["u"] * 9000})
    ref = Reference.from_table(table, predictions=["1", "2", "2"], max_exact=100)
    back = Reference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert back.columns["a"].exact is False and back.columns["b"].exact is True
    assert np.array_equal(back.columns["a"].points, ref.columns["a"].points)
    assert back.predictions is not None and back.predictions.frequencies == {"1": 1, "2": 2}
