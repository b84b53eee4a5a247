"""The monitoring, labeling and flywheel quickstart stages on their own (no registered model)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import stackml.tracking
from stackml.quickstart.context import QuickstartContext
from stackml.quickstart.stages.flywheel import FlywheelStage
from stackml.quickstart.stages.labeling import LabelingStage
from stackml.quickstart.stages.monitoring import SHIFTED_COLUMNS, MonitoringStage


@pytest.fixture(autouse=True)
def _clean_tracking() -> Iterator[None]:
    stackml.tracking.reset()
    yield
    stackml.tracking.reset()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_monitoring_labeling_flywheel_loop(tmp_path: Path) -> None:
    ctx = QuickstartContext(tmp_path / "qs")
    monitoring = MonitoringStage().run(ctx)
    ctx.results["monitoring"] = monitoring
    assert monitoring.metrics["clean_windows_drifted"] == 0  # clean traffic raises nothing
    assert "image" in monitoring.details["drifted"].split(",")
    assert set(monitoring.details["tabular_drifted"].split(",")) == set(SHIFTED_COLUMNS)
    assert monitoring.metrics["routed"] == 60
    alerts = [
        json.loads(x) for x in Path(monitoring.details["alerts_log"]).read_text().splitlines()
    ]
    assert {a["rule"] for a in alerts} >= {"pixel-drift", "feature-drift"}
    truth = json.loads(Path(monitoring.details["truth"]).read_text())
    assert len(truth) == 60 and all(k.startswith("prod-") for k in truth)  # only shifted traffic
    store = ctx.store
    assert len(store.metadata.list_label_tasks("digits-flywheel")) == 60

    labeling = LabelingStage().run(ctx)
    ctx.results["labeling"] = labeling
    assert labeling.metrics["labeled"] == 60

    flywheel = FlywheelStage().run(ctx)
    assert 0.0 <= flywheel.metrics["new_shifted"] <= 1.0
    turns = store.metadata.list_monitor_results("digits-prod", kind="flywheel")
    assert turns[-1].payload["labeled"] == 60 and turns[-1].payload["routed"] == 60
    edges = store.metadata.list_lineage(
        "dataset_version", labeling.details["dataset_version"], direction="downstream"
    )
    assert any(e.target_type == "pipeline_run" and e.role == "trigger" for e in edges)
    holdout = np.load(labeling.details["holdout"])
    assert len(holdout["y"]) == 180  # the other half of the shifted digits, never routed
