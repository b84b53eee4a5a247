"""The run page's training panel: doctor findings, bias-variance report, baseline deltas and
checkpoints, read from what the training package records on a run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from stackml.errors import StackmlError
from stackml.store import Store
from stackml.store.entities import Artifact, Run

__all__ = ["TrainingPanel", "build_training_panel"]

DOCTOR_REPORT = "doctor/report.json"
BIAS_VARIANCE = "doctor/bias_variance.json"
CHECKPOINT_INDEX = "checkpoints/index.json"
_MAX_JSON = 1024 * 1024


@dataclass
class TrainingPanel:
    """What the panel shows; every part is optional."""

    doctor: dict[str, Any] | None = None
    bias_variance: dict[str, Any] | None = None
    baselines: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        """Nothing to show."""
        return not (self.doctor or self.bias_variance or self.baselines or self.checkpoints)


def _read_json(store: Store, artifacts: dict[str, Artifact], path: str) -> Any:
    found = artifacts.get(path)
    if found is None or found.size > _MAX_JSON:
        return None
    try:
        with store.blobs.open(found.blob_hash) as fh:
            return json.loads(fh.read(_MAX_JSON))
    except (StackmlError, OSError, ValueError):  # a damaged file hides its card, no more
        return None


def build_training_panel(store: Store, run: Run, artifacts: list[Artifact]) -> TrainingPanel:
    """Collect the run's training records: artifacts written by the doctor and the
    checkpointer, and the deltas of its latest metrics to the project's baselines."""
    by_path = {a.path: a for a in artifacts}
    panel = TrainingPanel(
        doctor=_read_json(store, by_path, DOCTOR_REPORT),
        bias_variance=_read_json(store, by_path, BIAS_VARIANCE),
        checkpoints=_read_json(store, by_path, CHECKPOINT_INDEX),
    )
    try:
        baselines = store.metadata.list_baselines(run.project)
    except StackmlError:
        baselines = []
    for baseline in baselines:
        for key, value in sorted(baseline.metrics.items()):
            summary = run.metrics.get(key)
            if summary is not None:
                panel.baselines.append(
                    {
                        "name": baseline.name,
                        "kind": baseline.kind,
                        "metric": key,
                        "baseline": value,
                        "run": summary.latest,
                        "delta": summary.latest - value,
                    }
                )
    return panel
