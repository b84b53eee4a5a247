"""Automated evidence for the infrastructure section (infra-1 … infra-7)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from stackml.checks.context import CheckContext, Finding
from stackml.checks.evidence import automated

#: Relative difference allowed between a run's metrics and its reproduction.
REPRODUCE_TOLERANCE = 0.01


def deployments_of(ctx: CheckContext) -> list[Any]:
    """Deployments that serve (or served) this model version, in any variant."""
    found = []
    for dep in ctx.call("list_deployments") or []:
        for entry in dep.models:
            if (
                entry.get("name") == ctx.version.model
                and entry.get("version") == ctx.version.version
            ):
                found.append(dep)
                break
    return found


@automated("infra-1")
def reproducible(ctx: CheckContext) -> Finding:
    """A re-run of the training run (``stackml reproduce``) agrees on its metrics."""
    if ctx.run is None:
        return Finding(False, "the training run is not readable")
    reruns = ctx.project_runs(f"tags.`stackml.reproduces` = '{ctx.run.id}'")
    if not reruns:
        return Finding(False, f"no reproduction of run {ctx.run.id} (run `stackml reproduce`)")
    rerun = reruns[0]
    compared, off = 0, []
    for key, summary in ctx.run.metrics.items():
        if key.startswith("system/") or key.endswith("samples_per_s") or "time" in key:
            continue
        old, new = summary.latest, rerun.metric(key)
        if old is None or new is None:
            continue
        compared += 1
        if abs(new - old) > REPRODUCE_TOLERANCE * max(1.0, abs(old)):
            off.append(f"{key} {old:.4g} -> {new:.4g}")
    if not compared:
        return Finding(False, f"reproduction {rerun.id} shares no metric with the original")
    if off:
        return Finding(False, f"reproduction {rerun.id} disagrees: " + "; ".join(off))
    return Finding(True, f"reproduction {rerun.id} agrees on {compared} metric(s)")


@automated("infra-2")
def unit_tested(ctx: CheckContext) -> Finding:
    """The project's JUnit XML report shows tests and no failures or errors."""
    if not ctx.config.junit:
        return Finding(False, "no junit report configured in stackml-checks.yaml")
    path = ctx.config.path(ctx.config.junit)
    try:
        root = ET.parse(path).getroot()  # the project's own report, read as data
    except (OSError, ET.ParseError) as exc:
        return Finding(False, f"{path}: cannot read the test report ({exc})")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    if tests == 0:
        return Finding(False, f"{path}: the report holds no tests")
    if bad:
        return Finding(False, f"{path}: {bad} of {tests} tests fail")
    return Finding(True, f"{tests} tests pass ({path.name})")


@automated("infra-3")
def pipeline_tested(ctx: CheckContext) -> Finding:
    """An end-to-end pipeline run of the model's project succeeded."""
    runs = ctx.call("list_pipeline_runs", None, limit=200) or []
    for pr in runs:
        if pr.status not in ("succeeded", "completed"):
            continue
        info = ctx.call("get_pipeline", pr.pipeline)
        if info is None or ctx.project is None or info.project == ctx.project:
            return Finding(True, f"pipeline {pr.pipeline} run {pr.id} succeeded")
    return Finding(False, "no successful pipeline run in the project")


@automated("infra-4")
def gate_enabled(ctx: CheckContext) -> Finding:
    """A promotion gate guards the model's ``production`` alias."""
    gates = ctx.model.gates.get("production") or []
    if not gates:
        return Finding(False, "no gate guards production (stackml models gates …)")
    return Finding(True, "production is guarded by " + ", ".join(gates))


@automated("infra-5")
def debuggable(ctx: CheckContext) -> Finding:
    """A prediction of this version was logged with its inputs and outputs."""
    for dep in deployments_of(ctx):
        chunks = ctx.call("list_prediction_chunks", dep.name) or []
        if chunks:
            rows = sum(c.num_rows for c in chunks)
            return Finding(True, f"{rows} traced predictions in deployment {dep.name}")
    return Finding(False, "no logged prediction of this version")


@automated("infra-6")
def canaried(ctx: CheckContext) -> Finding:
    """A deployment served this version as a canary or in shadow."""
    for dep in ctx.call("list_deployments") or []:
        for entry in dep.models:
            if (
                entry.get("name") == ctx.version.model
                and entry.get("version") == ctx.version.version
                and entry.get("variant") in ("canary", "shadow")
            ):
                return Finding(True, f"{entry['variant']} in deployment {dep.name}")
    return Finding(False, "this version was never served as a canary or shadow")


@automated("infra-7")
def rollback_exercised(ctx: CheckContext) -> Finding:
    """An alias of the model was rolled back to an earlier version."""
    rollbacks = [e for e in ctx.alias_history if e.action == "rollback"]
    if not rollbacks:
        return Finding(False, "no alias of the model was ever rolled back")
    last = rollbacks[-1]
    return Finding(True, f"{last.alias} rolled back to v{last.version} by {last.author or '?'}")
