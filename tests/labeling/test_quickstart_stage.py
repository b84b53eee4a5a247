"""The quickstart's ``labeling`` stage: routed low-confidence shifted digits, a simulated
annotator through the queue, and the export as a new dataset version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import stackml.data as sd
import stackml.labeling as sl
from stackml.quickstart import run_quickstart
from stackml.quickstart.stages.labeling import ERROR_RATE, GOLD, PROJECT, ROUTED, LabelingStage
from stackml.store import open_store


def test_labeling_stage_routes_labels_and_exports(tmp_path: Path) -> None:
    with open("/dev/null", "w") as sink:
        report = run_quickstart(
            tmp_path / "qs", stages=[LabelingStage()], console=Console(file=sink)
        )
    result = report.results["labeling"]
    assert result.metrics["routed"] == ROUTED + GOLD
    assert result.metrics["labeled"] == ROUTED + GOLD
    assert result.metrics["annotator_mistakes"] <= ROUTED * ERROR_RATE * 4
    store = open_store(str(tmp_path / "qs" / ".stackml"))
    try:
        tasks = sl.all_tasks(store, PROJECT)
        routed = [t for t in tasks if t.gold is None]
        priorities = [t.priority for t in routed]
        assert all(t.prelabel is not None for t in routed) and max(priorities) > 0.3
        annotations = sl.all_annotations(store, PROJECT)
        assert {a.user for a in annotations} == {"sim-annotator"}
        assert all(a.duration_ms and a.duration_ms >= 400 for a in annotations)
        version = sd.resolve("digits-flywheel", store=store)
        assert (
            version.ref == result.details["dataset_version"] and version.num_rows == ROUTED + GOLD
        )
        edges = store.metadata.list_lineage("dataset_version", version.ref, direction="upstream")
        assert ("label_project", PROJECT) in {(e.source_type, e.source_id) for e in edges}
        holdout = np.load(result.details["holdout"])
        assert holdout["x"].shape == (180, 64) and len(holdout["y"]) == 180
        table = sd.get("digits-flywheel", store=store).to_pandas()
        assert set(table["label"]) <= {str(i) for i in range(10)}
    finally:
        store.close()


def test_labeling_runs_after_the_registry_and_monitoring() -> None:
    from stackml.quickstart.stages import default_stages

    names = [s.name for s in default_stages()]
    assert "labeling" in names and names.index("labeling") > names.index("cnn")
    for earlier in ("registry", "monitoring"):
        if earlier in names:
            assert names.index("labeling") > names.index(earlier)


def test_the_registered_model_scores_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stackml.registry
    from stackml.quickstart.context import QuickstartContext
    from stackml.quickstart.stage import StageResult
    from stackml.quickstart.stages.labeling import _probabilities

    class Fake:
        signature = type("S", (), {"probabilities": None})()

        def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
            assert batch.shape[1:] == (1, 8, 8) and batch.dtype == np.float32
            return {"logits": np.tile(np.arange(10.0), (len(batch), 1))}

    refs: list[str] = []
    monkeypatch.setattr(
        stackml.registry, "load", lambda ref, store=None: refs.append(ref) or Fake()
    )
    ctx = QuickstartContext(workdir=tmp_path)
    ctx.results["registry"] = StageResult("registered", details={"fp32": "digits@1"})
    digits = ctx.digits()
    probs, name = _probabilities(ctx, digits, digits.x_test[:5])
    assert refs == ["digits@1"] and name == "digits@1"
    assert probs.shape == (5, 10) and np.allclose(probs.sum(axis=1), 1) and probs[0].argmax() == 9
