"""The quickstart's ``registry`` stage after the real datasets, baseline and CNN stages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import stackml.tracking
from stackml.quickstart import QuickstartContext
from stackml.quickstart.stage import StageResult
from stackml.quickstart.stages import default_stages
from stackml.quickstart.stages.baseline import BaselineStage
from stackml.quickstart.stages.cnn import CnnStage
from stackml.quickstart.stages.datasets import DatasetsStage
from stackml.quickstart.stages.registry import RegistryStage, check_stage_follows
from stackml.registry import load
from stackml.registry.compare import predicted_labels


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[QuickstartContext]:
    stackml.tracking.reset()
    context = QuickstartContext(workdir=tmp_path / "qs")
    yield context
    stackml.tracking.reset()


def test_registry_stage_registers_exports_quantizes_and_compares(
    ctx: QuickstartContext, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    cnn = CnnStage()
    cnn.epochs = 4
    for stage in (DatasetsStage(), BaselineStage(), cnn):
        ctx.results[stage.name] = stage.run(ctx)
    # The sweep's result as the sweep stage leaves it (its best trial is the CNN's run here).
    ctx.results["sweep"] = StageResult(
        "sweep",
        run_ids=["sweep-run"],
        details={
            "best_run_id": ctx.results["cnn"].run_id,
            "model_artifact": "checkpoints/best/model.safetensors",
            "model_kwargs": '{"width": 32, "dropout": 0.3}',
        },
    )
    stage = RegistryStage()
    stage.repeats = 5
    started = time.perf_counter()
    result = stage.run(ctx)
    print(f"registry stage: {time.perf_counter() - started:.1f} s")
    details = result.details
    assert (details["fp32"], details["onnx"], details["int8"]) == (
        "digits@1",
        "digits@2",
        "digits@3",
    )
    meta = ctx.store.metadata
    fp32, onnx, int8 = (meta.get_model_version("digits", n) for n in (1, 2, 3))
    assert (fp32.format, onnx.format, int8.format) == ("safetensors", "onnx", "onnx")
    cnn_run = ctx.results["cnn"].run_id
    assert fp32.run_id == cnn_run == onnx.run_id and int8.run_id != cnn_run
    assert details["source_stage"] == "sweep" and fp32.tags["origin"] == "sweep"
    assert fp32.dataset_versions and fp32.dataset_versions[0].startswith("digits@")
    assert fp32.metrics["test_accuracy"] == pytest.approx(
        ctx.results["cnn"].metrics["test_accuracy"]
    )
    assert "test_accuracy" in int8.metrics and "agreement" in int8.metrics
    edges = {
        (e.source_id, e.role)
        for e in meta.list_lineage("model_version", "digits@3", direction="upstream")
    }
    assert ("digits@2", "compressed_from") in edges
    assert ("digits@1", "exported_from") in {
        (e.source_id, e.role)
        for e in meta.list_lineage("model_version", "digits@2", direction="upstream")
    }
    model = meta.get_registered_model("digits")
    assert model.gates["production"][0].startswith("metric:test_accuracy>=")
    assert model.aliases["staging"] == int(details["candidate"].split("@")[1])
    if check_stage_follows():
        assert "production" not in model.aliases  # promotion belongs to the check stage
    else:  # promoted through the gate here, and the audit trail says so
        assert model.aliases["production"] == model.aliases["staging"]
        event = meta.model_alias_history("digits", "production")[-1]
        assert event.author == "quickstart" and event.gates[model.gates["production"][0]]["passed"]
    out = capsys.readouterr().out
    assert "digits@3" in out and "model comparison" in out
    digits = ctx.digits()
    x = digits.x_test.reshape(-1, 1, 8, 8).astype(np.float32)
    predictor = load("digits@staging", store=ctx.store)
    labels = predicted_labels(predictor, x)
    assert np.mean(labels == digits.y_test.astype(str)) > 0.8  # takes raw 0..16 pixels
    assert result.metrics["int8_test_accuracy"] > 0.8


def test_registry_stage_follows_the_cnn_in_the_default_order() -> None:
    names = [s.name for s in default_stages()]
    assert "registry" in names
    assert names.index("registry") > names.index("cnn")
    if "sweep" in names:
        assert names.index("registry") == names.index("sweep") + 1


def test_source_prefers_the_sweeps_best_trial(ctx: QuickstartContext) -> None:
    from stackml.quickstart.stage import StageResult
    from stackml.quickstart.stages.registry import _source
    from stackml.store.entities import Artifact

    meta = ctx.store.metadata
    cnn_run = meta.create_run("digits", name="cnn")
    trial = meta.create_run("digits", name="trial-3")
    ctx.results["cnn"] = StageResult("cnn", run_ids=[cnn_run.id])
    kwargs = '{"width": 16, "dropout": 0.1}'
    ctx.results["sweep"] = StageResult(
        "sweep",
        details={
            "best_run_id": trial.id,
            "model_artifact": "checkpoints/sweep/model.safetensors",
            "model_kwargs": kwargs,
        },
    )
    fallback = _source(ctx)  # the trial kept no weights yet
    assert (fallback.run_id, fallback.stage) == (cnn_run.id, "cnn")
    meta.log_artifact(
        Artifact(
            trial.id,
            "checkpoints/sweep/model.safetensors",
            "ab" * 32,
            1,
            "application/octet-stream",
            0,
        )
    )
    chosen = _source(ctx)
    assert (chosen.run_id, chosen.stage, chosen.kwargs) == (
        trial.id,
        "sweep",
        {"width": 16, "dropout": 0.1},
    )
