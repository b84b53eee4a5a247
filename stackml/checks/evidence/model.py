"""Automated evidence for the model section (model-1 … model-7)."""

from __future__ import annotations

from collections.abc import Mapping

from stackml.checks.context import DAY_MS, CheckContext, Finding
from stackml.checks.evidence import automated

_LOWER_IS_BETTER = ("loss", "error", "latency", "mae", "mse", "rmse")


def _lookup(metrics: Mapping[str, float], key: str) -> float | None:
    """``key`` in ``metrics``, also as the tail of a namespaced key (``test/accuracy``)."""
    if key in metrics:
        return metrics[key]
    for name, value in metrics.items():
        if name.endswith(f"/{key}") or name.endswith(f"_{key}"):
            return value
    return None


def _lower_better(key: str) -> bool:
    return any(word in key.lower() for word in _LOWER_IS_BETTER)


@automated("model-1")
def spec_versioned(ctx: CheckContext) -> Finding:
    """The training run records a commit and a clean work tree."""
    commit = ctx.version.code_commit or (
        ctx.run.tags.get("stackml.git.commit") if ctx.run else None
    )
    if not commit:
        return Finding(False, "no git commit recorded for the training run")
    if ctx.run is not None and ctx.run.tags.get("stackml.git.dirty") == "true":
        return Finding(False, f"commit {commit[:10]} with uncommitted changes (dirty tree)")
    return Finding(True, f"trained at commit {commit[:10]}, clean tree")


@automated("model-2")
def offline_online(ctx: CheckContext) -> Finding:
    """Labeled monitoring windows agree with the offline accuracy."""
    from stackml.checks.evidence.monitoring import online_accuracy

    offline = _lookup(ctx.version.metrics, "accuracy")
    online = online_accuracy(ctx)
    if offline is None or online is None:
        return Finding(False, "needs an offline accuracy and labeled monitoring windows")
    gap = abs(offline - online)
    ok = gap <= ctx.config.max_online_gap
    return Finding(ok, f"offline {offline:.3f} vs online {online:.3f} (gap {gap:.3f})")


@automated("model-3")
def hyperparameters_tuned(ctx: CheckContext) -> Finding:
    """A sweep exists in the model's project."""
    sweeps = ctx.call("list_sweeps", ctx.project) if ctx.project else None
    if not sweeps:
        return Finding(False, "no sweep in the project")
    return Finding(True, f"{len(sweeps)} sweep(s), e.g. {sweeps[0].name}")


@automated("model-4")
def staleness_known(ctx: CheckContext) -> Finding:
    """The training data's age is known and an older version was evaluated beside this one."""
    if not ctx.datasets:
        return Finding(False, "the version records no training dataset version")
    if ctx.previous is None:
        return Finding(False, "no earlier version to compare with")
    shared = set(ctx.previous.metrics) & set(ctx.version.metrics)
    if not shared:
        return Finding(False, "the earlier version shares no metric with this one")
    age = (ctx.now_ms - max(dv.created_at for dv in ctx.datasets)) / DAY_MS
    return Finding(
        True,
        f"training data {age:.1f} days old; compared with v{ctx.previous.version} "
        f"on {len(shared)} metric(s)",
    )


@automated("model-5")
def beats_baselines(ctx: CheckContext) -> Finding:
    """The version's metrics beat every baseline of the project that shares a metric."""
    baselines = ctx.call("list_baselines", ctx.project) if ctx.project else None
    if not baselines:
        return Finding(False, "the project has no baselines")
    compared, lost = 0, []
    for base in baselines:
        for key, value in base.metrics.items():
            mine = _lookup(ctx.version.metrics, key)
            if mine is None:
                continue
            compared += 1
            better = mine < value if _lower_better(key) else mine > value
            if not better:
                lost.append(f"{base.name} {key} {value:.4g} vs {mine:.4g}")
    if not compared:
        return Finding(False, "no baseline shares a metric with the version")
    if lost:
        return Finding(False, "not better than: " + "; ".join(lost))
    return Finding(True, f"beats {len(baselines)} baseline(s) on {compared} comparison(s)")


def _slices(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``slice/<slice>/<metric>`` metrics grouped by metric."""
    found: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "slice":
            found.setdefault(parts[2], {})[parts[1]] = value
    return found


def _run_metrics(ctx: CheckContext) -> dict[str, float]:
    merged = dict(ctx.version.metrics)
    if ctx.run is not None:
        merged.update({k: s.latest for k, s in ctx.run.metrics.items() if s.latest is not None})
    return merged


@automated("model-6")
def slices_hold(ctx: CheckContext) -> Finding:
    """Slice metrics exist and meet the configured thresholds."""
    slices = _slices(_run_metrics(ctx))
    if not slices:
        return Finding(False, "no slice/<name>/<metric> metrics recorded")
    thresholds = ctx.config.slice_thresholds
    if not thresholds:
        return Finding(False, "slice metrics exist but no slice_thresholds are configured")
    failing = [
        f"{name} {metric}={value:.3f} < {limit:g}"
        for metric, limit in thresholds.items()
        for name, value in slices.get(metric, {}).items()
        if value < limit
    ]
    if failing:
        return Finding(False, "slices below threshold: " + "; ".join(failing))
    count = sum(len(v) for m, v in slices.items() if m in thresholds)
    if not count:
        return Finding(False, "no slice metric matches a configured threshold")
    return Finding(True, f"{count} slice metric(s) meet their thresholds")


@automated("model-7")
def inclusion(ctx: CheckContext) -> Finding:
    """Slice metrics over declared protected attributes are within the parity gap."""
    attrs = ctx.config.protected_attributes
    if not attrs:
        return Finding(False, "no protected_attributes declared in stackml-checks.yaml")
    slices = _slices(_run_metrics(ctx))
    gaps = []
    for attr in attrs:
        for metric, by_slice in slices.items():
            values = [v for name, v in by_slice.items() if name.startswith(f"{attr}:")]
            if len(values) >= 2:
                gaps.append((attr, metric, max(values) - min(values)))
    if not gaps:
        return Finding(False, "no slice metrics over the protected attributes")
    worst = max(gaps, key=lambda g: g[2])
    ok = worst[2] <= ctx.config.max_parity_gap
    return Finding(ok, f"largest parity gap {worst[2]:.3f} ({worst[0]}, {worst[1]})")
