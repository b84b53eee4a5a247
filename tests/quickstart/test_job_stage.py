"""The quickstart's ``job`` stage: training submitted as a job and run by a local worker."""

from __future__ import annotations

from pathlib import Path

import stackml.tracking
from stackml.quickstart import QuickstartContext
from stackml.quickstart.stages.job import JobStage
from stackml.store.jobs_base import JobState


def test_job_stage_trains_through_the_queue(tmp_path: Path) -> None:
    ctx = QuickstartContext(workdir=tmp_path / "qs")
    notes: list[str] = []
    ctx.progress = notes.append
    try:
        result = JobStage(epochs=2).run(ctx)
        job = ctx.store.metadata.get_job(result.details["job_id"])
        assert job.state is JobState.SUCCEEDED and job.executor == "local"
        assert job.spec.target == "stackml.quickstart.stages.job:train_digits_job"
        assert job.run_id == result.run_id
        run = ctx.store.metadata.get_run(job.run_id)
        assert run.project == "digits" and run.tags["stackml.job_id"] == job.id
        assert result.metrics["test_accuracy"] > 0.8
        assert any("queued" in note for note in notes)
    finally:
        stackml.tracking.reset()
