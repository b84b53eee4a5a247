"""The quickstart's ``sweep`` stage: TPE over lr, width and dropout with ASHA pruning."""

from __future__ import annotations

import json
from pathlib import Path

import stackml.tracking
from stackml.quickstart import QuickstartContext
from stackml.quickstart.stages import default_stages
from stackml.quickstart.stages.sweep import SweepStage, sweep_cnn
from stackml.store.entities import RunStatus


def test_sweep_stage_prunes_and_hands_the_best_model_on(tmp_path: Path) -> None:
    ctx = QuickstartContext(workdir=tmp_path / "qs")
    notes: list[str] = []
    ctx.progress = notes.append
    try:
        result = SweepStage().run(ctx)
        meta = ctx.store.metadata
        sweep = meta.get_sweep(result.details["sweep_id"])
        assert sweep.state == "completed" and sweep.budget == 10
        trials = meta.list_sweep_trials(sweep.id)
        assert len(trials) == 10 and result.metrics["trials"] == 10
        states = {t.state for t in trials}
        assert states <= {"complete", "pruned"} and "pruned" in states  # ASHA stopped some
        assert result.metrics["pruned"] == sum(t.state == "pruned" for t in trials)
        assert result.metrics["best_val_accuracy"] > 0.85
        assert result.metrics["best_test_accuracy"] > 0.85
        best = meta.get_run(result.details["best_run_id"])
        assert best.parent_id == sweep.run_id and best.status == RunStatus.COMPLETED
        assert set(best.params) >= {"lr", "width", "dropout"}
        artifact = meta.get_artifact(best.id, result.details["model_artifact"])
        assert artifact.size > 1000
        kwargs = json.loads(result.details["model_kwargs"])
        assert kwargs["width"] == int(best.params["width"])
        sweep_cnn(**kwargs)  # the factory rebuilds the network the weights belong to
        assert result.run_ids == [sweep.run_id, best.id]
        assert any("trial 9 done" in n for n in notes)
    finally:
        stackml.tracking.reset()


def test_sweep_comes_right_after_the_pipeline() -> None:
    names = [stage.name for stage in default_stages()]
    assert names.index("sweep") == names.index("pipeline") + 1
