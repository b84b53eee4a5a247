"""Reproduce a run: train again with its code commit, data versions and params, then compare.

The run must record its entry point (the ``stackml.entrypoint`` tag that
:class:`~stackml.training.Tracker` writes). When git is available and the recorded commit
exists, the entry point runs from a temporary worktree checked out at that commit; otherwise
it runs from the current code and the report carries a warning. The re-run gets:

- the original params: as keyword arguments of ``script.py:function``, or as JSON in
  ``STACKML_REPRODUCE_PARAMS`` for a plain script;
- the original dataset versions as JSON ``{name: "name@id"}`` in ``STACKML_REPRODUCE_DATASETS``;
- ``STACKML_REPRODUCES=<run id>``, which the Tracker records as the ``stackml.reproduces`` tag.

Metrics the two runs share are compared: they agree when ``|new - old| <= tolerance *
max(1, |old|)``. Dataset inputs are compared too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackml.errors import InvalidInput, StackmlError
from stackml.tracking import get_run, get_store, search_runs
from stackml.training.scoring import latest_metrics
from stackml.training.tracker import ENTRYPOINT_TAG, REPRODUCES_ENV, REPRODUCES_TAG

__all__ = ["MetricComparison", "ReproduceReport", "reproduce"]

_LAUNCH = """
import importlib.util, json, os, sys
path, func = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(path))
spec = importlib.util.spec_from_file_location("__stackml_entry__", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
getattr(module, func)(**json.loads(os.environ["STACKML_REPRODUCE_PARAMS"]))
"""


@dataclass(frozen=True)
class MetricComparison:
    """One metric of the original run against the reproduction."""

    key: str
    original: float
    reproduced: float | None
    ok: bool


@dataclass
class ReproduceReport:
    """What :func:`reproduce` did and found."""

    original_id: str
    reproduced_id: str | None
    commit: str | None
    checked_out: bool
    comparisons: list[MetricComparison] = field(default_factory=list)
    datasets_match: bool = True
    warnings: list[str] = field(default_factory=list)
    returncode: int = 0
    output: str = ""

    @property
    def ok(self) -> bool:
        """The re-run succeeded and every shared metric and dataset input agrees."""
        return (
            self.returncode == 0
            and self.reproduced_id is not None
            and self.datasets_match
            and all(c.ok for c in self.comparisons)
        )


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str] | None:
    if shutil.which("git") is None:
        return None
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _dataset_inputs(run_id: str, tracking_uri: str | None) -> dict[str, str]:
    edges = get_store(tracking_uri).metadata.list_lineage("run", run_id, direction="upstream")
    found: dict[str, str] = {}
    for edge in edges:
        if edge.source_type == "dataset_version" and edge.target_id == run_id:
            found[edge.source_id.split("@", 1)[0]] = edge.source_id
    return found


def reproduce(
    run_id: str,
    *,
    tolerance: float = 0.01,
    tracking_uri: str | None = None,
    timeout_s: float | None = None,
    use_commit: bool = True,
) -> ReproduceReport:
    """Re-run ``run_id`` and compare the new run's metrics with the original's.

    Args:
        run_id: The run to reproduce.
        tolerance: Relative tolerance of the metric comparison.
        tracking_uri: The store of the run (the re-run records into the same store).
        timeout_s: Kill the re-run after this many seconds.
        use_commit: Check out the recorded commit when possible.

    Raises:
        NotFound: The run does not exist.
        InvalidInput: The run records no entry point, or its script is missing.
    """
    from stackml.config import resolve_location

    if tolerance < 0:
        raise InvalidInput("tolerance must be non-negative")
    original = get_run(run_id, tracking_uri=tracking_uri)
    entry = original.tags.get(ENTRYPOINT_TAG)
    if not entry:
        raise InvalidInput(
            f"run {run_id} records no entry point (tag {ENTRYPOINT_TAG}): log it with "
            "stackml.training.Tracker or set the tag to 'path/to/script.py:function'"
        )
    script, sep, func = entry.rpartition(":")
    if not sep or not script.endswith(".py"):
        script, func = entry, ""
    commit = original.tags.get("stackml.git.commit")
    root = original.tags.get("stackml.git.root")
    report = ReproduceReport(run_id, None, commit, checked_out=False)
    workdir: Path | None = None
    target = Path(script)
    try:
        if use_commit and commit and root and Path(root).is_dir():
            rel = os.path.relpath(script, root) if os.path.isabs(script) else script
            tmp = Path(tempfile.mkdtemp(prefix="stackml-reproduce-"))
            added = _git(["worktree", "add", "--detach", str(tmp / "tree"), commit], Path(root))
            if added is not None and added.returncode == 0 and not rel.startswith(".."):
                workdir, target, report.checked_out = tmp, tmp / "tree" / rel, True
                if original.tags.get("stackml.git.dirty") == "true":
                    report.warnings.append(
                        "the original run had uncommitted changes: they are not reproduced"
                    )
            else:
                shutil.rmtree(tmp, ignore_errors=True)
                report.warnings.append(
                    f"could not check out commit {commit}: running the current code"
                )
        else:
            report.warnings.append(
                "no git commit recorded (or git unavailable): running the current code"
            )
        if not target.is_file():
            raise InvalidInput(f"the entry point {target} does not exist")
        location = resolve_location(tracking_uri)
        env = {**os.environ, REPRODUCES_ENV: run_id, "STACKML_TRACKING_URI": location.metadata_url}
        if location.blob_url:
            env["STACKML_ARTIFACT_URI"] = location.blob_url
        params = {k: _decode(v) for k, v in original.params.items()}
        env["STACKML_REPRODUCE_PARAMS"] = json.dumps(params)
        env["STACKML_REPRODUCE_DATASETS"] = json.dumps(_dataset_inputs(run_id, tracking_uri))
        if func:
            argv = [sys.executable, "-c", _LAUNCH, str(target), func]
        else:
            argv = [sys.executable, str(target)]
        try:
            done = subprocess.run(
                argv, cwd=target.parent, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise StackmlError(f"the re-run did not finish in {timeout_s} s") from exc
        report.returncode = done.returncode
        report.output = (done.stdout + done.stderr)[-4000:]
    finally:
        if workdir is not None and root:
            _git(["worktree", "remove", "--force", str(workdir / "tree")], Path(root))
            shutil.rmtree(workdir, ignore_errors=True)
    flt = f"tags.`{REPRODUCES_TAG}` = '{run_id}'"
    found = search_runs(
        project=original.project,
        filter=flt,
        order_by=["attributes.start_time DESC"],
        limit=1,
        tracking_uri=tracking_uri,
    )
    if not found:
        report.warnings.append("the re-run recorded no run")
        return report
    new = found[0]
    report.reproduced_id = new.id
    old_values, new_values = latest_metrics(original), latest_metrics(new)
    for key, old in sorted(old_values.items()):
        if key.startswith("system/") or key.endswith("samples_per_s"):
            continue  # timings and machine load are not meant to reproduce
        value = new_values.get(key)
        ok = value is not None and abs(value - old) <= tolerance * max(1.0, abs(old))
        report.comparisons.append(MetricComparison(key, old, value, ok))
    report.datasets_match = _dataset_inputs(run_id, tracking_uri) == _dataset_inputs(
        new.id, tracking_uri
    )
    if not report.datasets_match:
        report.warnings.append("the re-run read different dataset versions")
    return report
