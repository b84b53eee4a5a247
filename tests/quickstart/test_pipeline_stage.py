"""The quickstart's ``pipeline`` stage: prepare → train → evaluate, cached across runs."""

from __future__ import annotations

from pathlib import Path

import stackml.tracking
from stackml.quickstart import QuickstartContext
from stackml.quickstart.stages.datasets import DatasetsStage
from stackml.quickstart.stages.pipeline import PipelineStage


def test_pipeline_stage_reuses_unchanged_steps(tmp_path: Path) -> None:
    ctx = QuickstartContext(workdir=tmp_path / "qs")
    notes: list[str] = []
    ctx.progress = notes.append
    try:
        ctx.results["datasets"] = DatasetsStage().run(ctx)
        first = PipelineStage().run(ctx)
        assert first.metrics["test_accuracy"] > 0.9
        assert first.metrics["cache_hits_first"] == 0
        assert first.metrics["cache_hits_second"] == 1  # prepare, reused for the new C
        assert first.details["cached_steps"] == "prepare"
        run = ctx.store.metadata.get_pipeline_run(first.run_id)
        assert run.pipeline == "quickstart-tabular" and run.status == "succeeded"
        prepare = ctx.store.metadata.list_step_runs(first.run_ids[1])[0]
        edges = ctx.store.metadata.list_lineage("run", prepare.run_id, direction="upstream")
        assert any(e.source_type == "dataset_version" for e in edges)
        # A second quickstart in the same folder: the data is versioned again, unchanged.
        ctx.results["datasets"] = DatasetsStage().run(ctx)
        again = PipelineStage().run(ctx)
        assert again.metrics["cache_hits_first"] == 3 and again.metrics["cache_hits_second"] == 3
        assert any("from cache" in note for note in notes)
    finally:
        stackml.tracking.reset()
