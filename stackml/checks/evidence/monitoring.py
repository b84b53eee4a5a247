"""Automated evidence for the monitoring section (monitor-1 … monitor-7)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from stackml.checks.context import DAY_MS, CheckContext, Finding
from stackml.checks.evidence import automated
from stackml.checks.evidence.infra import deployments_of

#: Largest ONNX-vs-framework output difference that still counts as "no skew".
PARITY_TOLERANCE = 1e-3
_REGRESSION_KEYS = ("train_time_s", "latency_ms", "latency_p99_ms", "peak_rss_mb")


def _monitors(ctx: CheckContext) -> list[Any]:
    found: list[Any] = []
    for dep in deployments_of(ctx):
        found += ctx.call("list_monitors", dep.name) or []
    return found


def _numbers(payload: Any, key: str) -> Iterator[float]:
    """Every number stored under ``key`` anywhere in a nested result payload."""
    if isinstance(payload, Mapping):
        for k, v in payload.items():
            if k == key and isinstance(v, int | float) and not isinstance(v, bool):
                yield float(v)
            else:
                yield from _numbers(v, key)
    elif isinstance(payload, list):
        for item in payload:
            yield from _numbers(item, key)


def online_accuracy(ctx: CheckContext) -> float | None:
    """Accuracy of the latest labeled monitoring window of a deployment of this version."""
    for monitor in _monitors(ctx):
        results = ctx.call("list_monitor_results", monitor.name, kind="window", limit=20) or []
        for result in reversed(results):
            values = list(_numbers(result.payload, "accuracy"))
            if values:
                return values[0]
    return None


@automated("monitor-1")
def dependency_changes(ctx: CheckContext) -> Finding:
    """Both this version's and the previous version's runs captured their environment."""
    if ctx.run is None:
        return Finding(False, "the training run is not readable")
    if "stackml.python" not in ctx.run.tags and "stackml.git.commit" not in ctx.run.tags:
        return Finding(False, "the training run captured no environment")
    if ctx.previous is None:
        return Finding(False, "no earlier version whose environment could be diffed")
    before = ctx.optional(lambda: ctx.meta.get_run(ctx.previous.run_id), None)  # type: ignore[union-attr]
    if before is None:
        return Finding(False, "the earlier version's run is not readable")
    keys = {k for k in {**before.tags, **ctx.run.tags} if k.startswith("stackml.")}
    changed = sorted(k for k in keys if before.tags.get(k) != ctx.run.tags.get(k))
    env = [k for k in changed if not k.startswith(("stackml.git", "stackml.command"))]
    return Finding(
        True,
        f"environment diffed against v{ctx.previous.version}: "
        + (", ".join(env) + " changed" if env else "no dependency change"),
    )


@automated("monitor-2")
def invariants(ctx: CheckContext) -> Finding:
    """Serving validates inputs against the schema and a data-quality monitor is defined."""
    deployments = deployments_of(ctx)
    if not deployments:
        return Finding(False, "this version is not deployed")
    if any(dep.config.get("validate") is False for dep in deployments):
        return Finding(False, "a deployment turned input validation off")
    quality = [m for m in _monitors(ctx) if "quality" in json.dumps(m.spec)]
    if not quality:
        return Finding(False, "serving validates inputs, but no data-quality monitor exists")
    return Finding(True, f"inputs validated; data quality monitored by {quality[0].name}")


def _family(ctx: CheckContext) -> list[Any]:
    """This version, the versions it derives from and those derived from it (exports,
    compressed variants): one model in several formats."""
    by_ref = {v.ref: v for v in ctx.versions}
    family, frontier = {ctx.version.ref: ctx.version}, [ctx.version]
    while frontier:
        current = frontier.pop()
        related = [by_ref.get(current.source_version or "")] + [
            v for v in ctx.versions if v.source_version == current.ref
        ]
        for v in related:
            if v is not None and v.ref not in family:
                family[v.ref] = v
                frontier.append(v)
    return list(family.values())


@automated("monitor-3")
def no_skew(ctx: CheckContext) -> Finding:
    """An export in the version's family passed a parity check against the framework."""
    for version in _family(ctx):
        parity = version.meta.get("parity")
        if isinstance(parity, Mapping) and "max_abs_diff" in parity:
            diff = float(parity["max_abs_diff"])
            ok = diff <= PARITY_TOLERANCE
            return Finding(ok, f"{version.ref} ({version.format}) max |diff| {diff:.2e}")
    return Finding(False, "no parity check recorded for an export of this version")


@automated("monitor-4")
def not_stale(ctx: CheckContext) -> Finding:
    """The version is younger than the configured maximum age."""
    days = (ctx.now_ms - ctx.version.created_at) / DAY_MS
    limit = ctx.config.max_model_age_days
    return Finding(days <= limit, f"registered {days:.1f} days ago (limit {limit:g})")


@automated("monitor-5")
def numerically_stable(ctx: CheckContext) -> Finding:
    """A monitor of a deployment of this version checks NaN/Inf and missing values."""
    for monitor in _monitors(ctx):
        spec = json.dumps(monitor.spec).lower()
        if "quality" in spec or "missing" in spec or "nan" in spec:
            return Finding(True, f"monitor {monitor.name} checks data quality")
    return Finding(False, "no monitor checks this version's inputs for NaN/Inf")


@automated("monitor-6")
def no_compute_regression(ctx: CheckContext) -> Finding:
    """Training time, latency, RSS and size are within tolerance of the previous version."""
    prev = ctx.previous
    if prev is None:
        return Finding(False, "no earlier version to compare with")
    tol = ctx.config.regression_tolerance
    pairs = [
        (k, prev.metrics[k], ctx.version.metrics[k])
        for k in _REGRESSION_KEYS
        if k in prev.metrics and k in ctx.version.metrics
    ]
    pairs.append(("size_bytes", float(prev.size_bytes), float(ctx.version.size_bytes)))
    worse = [f"{k} {a:.4g} -> {b:.4g}" for k, a, b in pairs if a > 0 and b > a * (1 + tol)]
    if worse:
        return Finding(False, "regressed: " + "; ".join(worse))
    return Finding(True, f"{len(pairs)} figure(s) within {tol:.0%} of v{prev.version}")


@automated("monitor-7")
def quality_holds(ctx: CheckContext) -> Finding:
    """The latest labeled window is no worse than the offline accuracy."""
    from stackml.checks.evidence.model import _lookup

    offline = _lookup(ctx.version.metrics, "accuracy")
    online = online_accuracy(ctx)
    if offline is None or online is None:
        return Finding(False, "needs an offline accuracy and a labeled monitoring window")
    ok = online >= offline - ctx.config.max_online_gap
    return Finding(ok, f"served accuracy {online:.3f} vs offline {offline:.3f}")
