"""The quickstart's ``cnn`` stage: doctor, tracked training, baselines and the report."""

from __future__ import annotations

from pathlib import Path

import pytest

import stackml
from stackml.quickstart.context import QuickstartContext
from stackml.quickstart.stages.cnn import CnnStage
from stackml.training import doctor


@pytest.mark.slow
def test_cnn_stage_beats_the_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = QuickstartContext(workdir=tmp_path / "qs")  # not above the working directory
    result = CnnStage().run(ctx)
    assert result.metrics["test_accuracy"] >= 0.97
    assert result.metrics["doctor_ok"] == 1.0
    assert result.metrics["score"] == result.metrics["test_accuracy"]
    out = capsys.readouterr().out
    assert "bias-variance decomposition" in out and "diagnosis" in out
    store = ctx.store.metadata
    names = {b.name: b.metrics["test_accuracy"] for b in store.list_baselines("digits")}
    assert names["majority"] < 0.2 < names["logistic_regression"] < result.metrics["test_accuracy"]
    run = stackml.get_run(result.run_ids[0], tracking_uri=ctx.tracking_uri)
    assert run.tags["stackml.doctor"] == "ok" and "stackml.entrypoint" in run.tags
    paths = {a.path for a in store.list_artifacts(run.id)}
    assert {
        doctor.REPORT_ARTIFACT,
        "doctor/bias_variance.json",
        "checkpoints/best/model.safetensors",
    } <= paths
