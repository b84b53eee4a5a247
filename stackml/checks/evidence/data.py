"""Automated evidence for the data section (data-1 … data-7)."""

from __future__ import annotations

import functools

from stackml.checks.context import DAY_MS, CheckContext, Finding
from stackml.checks.evidence import automated


@automated("data-1")
def schema_and_validation(ctx: CheckContext) -> Finding:
    """The training data has a schema and every table version passes its expectations."""
    if not ctx.datasets:
        return Finding(False, "the version records no training dataset version")
    import stackml.data as sd

    problems = []
    for dv in ctx.datasets:
        if not dv.schema.get("columns") and not dv.schema.get("images"):
            problems.append(f"{dv.label} has no schema")
            continue
        if dv.table_hash is None:
            continue  # a file tree: its schema is the image statistics
        report = ctx.optional(functools.partial(sd.validate, dv.ref, store=ctx.store), None)
        if report is None or not report.ok:
            problems.append(f"{dv.label} does not pass validation")
    if problems:
        return Finding(False, "; ".join(problems))
    labels = ", ".join(dv.label for dv in ctx.datasets)
    return Finding(True, f"{labels}: schema recorded and validation passes")


@automated("data-2")
def features_beneficial(ctx: CheckContext) -> Finding:
    """A feature-importance or ablation run exists, or a sweep with importances."""
    runs = ctx.project_runs("tags.`stackml.purpose` IN ('ablation', 'feature-importance')")
    if runs:
        return Finding(True, f"run {runs[0].id} ({runs[0].tags['stackml.purpose']})")
    return Finding(
        False,
        "no run tagged stackml.purpose=ablation or feature-importance in the project",
    )


@automated("data-3")
def feature_cost(ctx: CheckContext) -> Finding:
    """Per-feature cost is recorded on the training run."""
    if ctx.run is None:
        return Finding(False, "the training run is not readable")
    costs = [k for k in ctx.run.metrics if k.startswith("feature_cost/")]
    if not costs:
        return Finding(False, "no feature_cost/<feature> metrics on the training run")
    return Finding(True, f"{len(costs)} feature cost metrics recorded")


@automated("data-4")
def meta_requirements(ctx: CheckContext) -> Finding:
    """A disallowed-feature list is configured and no model input is on it."""
    banned = ctx.config.disallowed_features
    if not banned:
        return Finding(False, "no disallowed_features listed in stackml-checks.yaml")
    if not ctx.input_columns:
        return Finding(False, "neither the signature nor the training data lists columns")
    used = sorted(set(banned) & set(ctx.input_columns))
    if used:
        return Finding(False, f"disallowed features used: {', '.join(used)}")
    return Finding(True, f"none of {len(banned)} disallowed features is an input")


@automated("data-5")
def privacy_controls(ctx: CheckContext) -> Finding:
    """PII columns are declared and none is a model input."""
    pii = ctx.config.pii_columns
    if not pii:
        return Finding(
            False,
            "no pii_columns declared in stackml-checks.yaml (if the data holds none, "
            "attest data-5 by hand)",
        )
    if not ctx.input_columns:
        return Finding(False, "neither the signature nor the training data lists columns")
    leaked = sorted(set(pii) & set(ctx.input_columns))
    if leaked:
        return Finding(False, f"PII columns used as inputs: {', '.join(leaked)}")
    return Finding(True, f"{len(pii)} PII column(s) declared; none is a model input")


@automated("data-6")
def features_added_quickly(ctx: CheckContext) -> Finding:
    """Time from the newest training data version to this model version is within the limit."""
    if not ctx.datasets:
        return Finding(False, "the version records no training dataset version")
    newest = max(dv.created_at for dv in ctx.datasets)
    days = max(0, ctx.version.created_at - newest) / DAY_MS
    limit = ctx.config.max_feature_lead_days
    ok = days <= limit
    return Finding(ok, f"data to trained version in {days:.2f} days (limit {limit:g})")


@automated("data-7")
def feature_code_shared(ctx: CheckContext) -> Finding:
    """Training and serving run the same transform (recorded on the version)."""
    if ctx.version.meta.get("transform_in_model") or ctx.version.meta.get("preprocessing"):
        return Finding(True, "the model version carries its preprocessing, so serving runs it")
    transforms = [dv for dv in ctx.datasets if dv.transform]
    if transforms and ctx.version.signature.get("input_schema"):
        return Finding(
            True,
            f"{transforms[0].label} records its transform and serving validates inputs "
            "against the same schema",
        )
    return Finding(False, "no record that training and serving share the feature code")
