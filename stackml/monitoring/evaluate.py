"""Evaluate one window of prediction logs against a reference: every check, one pass per column."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stackml.monitoring.correction import adjust
from stackml.monitoring.drift import CheckResult, DriftTest, MMDTest, PixelStatsTest, make_test
from stackml.monitoring.operational import operational_of
from stackml.monitoring.performance import join_labels, performance_of, slice_performance
from stackml.monitoring.quality import quality_of, type_ok
from stackml.monitoring.reference import CategoricalReference, NumericReference, Reference
from stackml.monitoring.sketch import (
    CategoricalSketch,
    NumericSketch,
    sketch_categorical,
    sketch_numeric,
)
from stackml.monitoring.spec import MonitorSpec

__all__ = ["WindowReport", "evaluate_window", "feature_columns"]

FEATURE_PREFIX = "f."


@dataclass(frozen=True)
class WindowReport:
    """Everything measured on one window; ``stats`` is the flat view alert rules read."""

    start_ms: int
    end_ms: int
    rows: int
    checks: tuple[CheckResult, ...]
    drifted_features: tuple[str, ...]
    dataset_drift: bool
    stats: dict[str, float]
    violations: tuple[str, ...] = ()
    histograms: dict[str, dict[str, Any]] = field(default_factory=dict)
    performance: dict[str, Any] | None = None
    slices: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (NaN-free)."""
        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "rows": self.rows,
            "checks": [c.to_dict() for c in self.checks],
            "drifted_features": list(self.drifted_features),
            "dataset_drift": self.dataset_drift,
            "stats": {k: v for k, v in self.stats.items() if np.isfinite(v)},
            "violations": list(self.violations),
            "histograms": self.histograms,
            "performance": self.performance,
            "slices": self.slices,
        }


def feature_columns(
    table: pa.Table, reference: Reference, features: Sequence[str] = ()
) -> dict[str, str]:
    """Reference column -> log column (``f.<name>`` for logged record inputs, else ``<name>``)."""
    names = list(features) or list(reference.columns)
    out = {}
    for name in names:
        if name not in reference.columns:
            continue
        prefixed = FEATURE_PREFIX + name
        out[name] = (
            prefixed if prefixed in table.column_names or name not in table.column_names else name
        )
    return out


def _sketch(
    ref: NumericReference | CategoricalReference, data: Any
) -> NumericSketch | CategoricalSketch:
    if isinstance(ref, NumericReference):
        return sketch_numeric(ref, data)
    return sketch_categorical(ref, data)


def _sketch_all(
    table: pa.Table, reference: Reference, todo: Sequence[tuple[str, str]]
) -> dict[str, NumericSketch | CategoricalSketch]:
    """Sketch columns on a few threads (NumPy releases the GIL in the heavy passes)."""
    if len(todo) < 4 or table.num_rows < 50_000:
        return {n: _sketch(reference.columns[n], table.column(c)) for n, c in todo}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        futures = {n: pool.submit(_sketch, reference.columns[n], table.column(c)) for n, c in todo}
        return {n: f.result() for n, f in futures.items()}


def _histogram(sk: NumericSketch | CategoricalSketch) -> dict[str, Any]:
    if isinstance(sk, CategoricalSketch):
        labels = [*sk.categories, "(unseen)"] if sk.unseen else list(sk.categories)
        ref = sk.ref_counts.tolist() + ([0.0] if sk.unseen else [])
        cur = sk.cur_counts.tolist() + ([float(sk.unseen)] if sk.unseen else [])
    else:
        refc, curc = sk.coarse()
        labels = [f"q{i + 1}" for i in range(refc.size)]
        ref, cur = refc.tolist(), curc.tolist()
    rt, ct = max(sum(ref), 1.0), max(sum(cur), 1.0)
    return {"labels": labels, "reference": [r / rt for r in ref], "current": [c / ct for c in cur]}


def _decide(results: list[CheckResult], alpha: float, correction: str) -> list[CheckResult]:
    """Correct p-values per test across features, then set each result's decision."""
    out = list(results)
    by_test: dict[str, list[int]] = {}
    for i, r in enumerate(results):
        if r.p_value is not None:
            by_test.setdefault(r.test, []).append(i)
    for indices in by_test.values():
        adjusted = adjust([results[i].p_value for i in indices], correction)  # type: ignore[misc]
        for i, q in zip(indices, adjusted, strict=True):
            out[i] = results[i].with_decision(bool(q < alpha), adjusted_p=float(q))
    return out


def evaluate_window(
    table: pa.Table,
    reference: Reference,
    spec: MonitorSpec,
    *,
    start_ms: int = 0,
    end_ms: int = 0,
    images: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
    feedback: pa.Table | None = None,
    tests: Mapping[str, DriftTest] | None = None,
    sketches: Mapping[str, NumericSketch | CategoricalSketch] | None = None,
) -> WindowReport:
    """Run every configured check on one window of logs.

    Shadow rows are left out of drift (they repeat primary traffic). Each feature is sketched
    once; its drift decision comes from the first configured test that applies to it, after
    the multiple-testing correction across features. ``images`` / ``embeddings`` are the
    window's tensor inputs and model embeddings, when the model takes images. ``sketches``
    are precomputed per-feature sketches (see :mod:`stackml.monitoring.stream`).
    """
    served = table
    if "variant" in table.column_names and table.num_rows:
        served = table.filter(pc.fill_null(pc.not_equal(table.column("variant"), "shadow"), True))
    make = tests or {}
    cols = feature_columns(served, reference, spec.features)
    given = dict(sketches or {})
    sketches = {}
    results: list[CheckResult] = []
    primary: dict[str, str] = {}
    todo = [
        (n, c)
        for n, c in cols.items()
        if n in given
        or (c in served.column_names and type_ok(reference.columns[n], served.schema.field(c).type))
    ]
    made = _sketch_all(served, reference, [t for t in todo if t[0] not in given])
    for name, _column in todo:
        ref = reference.columns[name]
        sk = given.get(name) or made[name]
        sketches[name] = sk
        kind = "numeric" if isinstance(ref, NumericReference) else "categorical"
        names = spec.numeric_tests if kind == "numeric" else spec.categorical_tests
        for test_name in names:
            test = make.get(test_name) or make_test(test_name, spec.thresholds.get(test_name))
            if kind not in test.applies_to:
                continue
            primary.setdefault(name, test.name)
            results.append(test.compare(sk))
    results = _decide(results, spec.alpha, spec.correction)
    drifted = tuple(
        name
        for name in sketches
        if any(r.drifted for r in results if r.feature == name and r.test == primary.get(name))
    )
    stats: dict[str, float] = {}
    for r in results:
        stats[f"drift.{r.feature}.{r.test}"] = r.statistic
        if r.p_value is not None:
            stats[f"drift.{r.feature}.{r.test}.p"] = float(r.details.get("adjusted_p", r.p_value))
    for name in sketches:
        stats[f"drift.{name}"] = float(name in drifted)
    share = len(drifted) / len(sketches) if sketches else 0.0
    stats["drift_share"] = share
    stats["drifted_features"] = float(len(drifted))
    dataset_drift = bool(sketches) and share >= spec.drift_share
    stats["dataset_drift"] = float(dataset_drift)
    extra = _model_checks(served, reference, spec, images, embeddings, make)
    for r in extra:
        stats[f"{r.feature}.{r.test}"] = r.statistic
        if r.p_value is not None:
            stats[f"{r.feature}.{r.test}.p"] = r.p_value
        stats[f"{r.feature}.drifted"] = max(
            stats.get(f"{r.feature}.drifted", 0.0), float(r.drifted)
        )
    quality, violations = quality_of(served, reference, cols, sketches)
    stats.update(quality)
    stats.update(operational_of(table))
    perf, slices = None, {}
    if feedback is not None and feedback.num_rows and "request_id" in table.column_names:
        joined = join_labels(table, feedback)
        perf = performance_of(joined)
        if perf is not None:
            stats.update(
                {
                    f"performance.{k}": float(perf[k])
                    for k in ("accuracy", "f1", "ece", "labeled")
                    if k in perf
                }
            )
            slices = slice_performance(joined, [*spec.slices, "variant"])
    histograms = {name: _histogram(sk) for name, sk in sketches.items()}
    return WindowReport(
        start_ms,
        end_ms,
        served.num_rows,
        tuple(results + extra),
        drifted,
        dataset_drift,
        stats,
        tuple(violations),
        histograms,
        perf,
        slices,
    )


def _model_checks(
    table: pa.Table,
    reference: Reference,
    spec: MonitorSpec,
    images: np.ndarray | None,
    embeddings: np.ndarray | None,
    make: Mapping[str, DriftTest],
) -> list[CheckResult]:
    """Prediction, pixel and embedding drift (each its own decision at ``alpha``)."""
    out: list[CheckResult] = []
    if reference.predictions is not None and "prediction" in table.column_names and table.num_rows:
        sk = sketch_categorical(reference.predictions, table.column("prediction"))
        for i, test_name in enumerate(spec.categorical_tests):
            test = make.get(test_name) or make_test(test_name, spec.thresholds.get(test_name))
            if "categorical" not in test.applies_to:
                continue
            r = test.compare(sk)
            r = r.with_decision(r.p_value < spec.alpha) if r.p_value is not None else r
            if i > 0:  # only the first test decides
                r = r.with_decision(False)
            out.append(
                CheckResult(
                    "prediction", r.test, r.statistic, r.p_value, r.threshold, r.drifted, r.details
                )
            )
    if reference.confidence is not None and "confidence" in table.column_names and table.num_rows:
        from stackml.monitoring.drift.ks import KSTest

        r = KSTest().compare(sketch_numeric(reference.confidence, table.column("confidence")))
        out.append(
            CheckResult(
                "prediction",
                "confidence_ks",
                r.statistic,
                r.p_value,
                None,
                bool(r.p_value is not None and r.p_value < spec.alpha),
                r.details,
            )
        )
    if reference.images is not None and images is not None and len(images):
        r = (make.get("pixel_stats") or PixelStatsTest(spec.thresholds.get("pixel_stats"))).compare(
            (reference.images, images)
        )
        out.append(r.with_decision(r.p_value < spec.alpha) if r.p_value is not None else r)
    if reference.embeddings is not None and embeddings is not None and len(embeddings) >= 2:
        r = (make.get("mmd") or MMDTest()).compare((reference.embeddings, embeddings))
        out.append(r.with_decision(bool(r.p_value is not None and r.p_value < spec.alpha)))
    return out
