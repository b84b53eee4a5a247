"""Running pipelines from Python: :func:`run_pipeline` (what the CLI, the scheduler and
monitoring's retraining trigger call)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.pipelines.definition import Pipeline
from stackml.pipelines.result import PipelineResult
from stackml.pipelines.runner import PipelineRunner

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["attach", "run_pipeline"]


def run_pipeline(
    name_or_fn: str | Pipeline,
    *,
    params: Mapping[str, Any] | None = None,
    force: bool = False,
    force_steps: Sequence[str] = (),
    resume: str | bool | None = None,
    executor: str | None = None,
    max_parallel: int | None = None,
    trigger: str = "manual",
    tracking_uri: str | None = None,
    store: Store | None = None,
) -> PipelineResult:
    """Run a pipeline and wait for it.

    Args:
        name_or_fn: a :class:`Pipeline` or the name of one (defined in this process or
            registered in the store, whose entrypoint is then imported).
        params: the pipeline function's arguments.
        force: run every step, ignoring the cache.
        force_steps: run these steps even when cached.
        resume: a pipeline run id (or ``True`` for the latest failed run of this pipeline)
            whose successful steps are reused even when they are ``cache=False``.
        executor: executor of steps that do not name one (default the pipeline's).
        max_parallel: most steps running at once.
        trigger: why it runs (``manual``, ``schedule``, ``dataset:NAME@vN``…), recorded.
        tracking_uri: the store to use (default: as for tracking).
        store: an open store (overrides ``tracking_uri``).

    Returns:
        The :class:`PipelineResult`; a failed run is a result, not an exception (see
        :meth:`PipelineResult.raise_for_status`).

    Raises:
        InvalidInput: bad parameters, a cycle, a missing input or an unknown executor.
        NotFound: no pipeline of that name.
    """
    from stackml.pipelines.loading import resolve_pipeline
    from stackml.tracking.api import get_store

    store = store or get_store(tracking_uri)
    pipe = resolve_pipeline(name_or_fn, store)
    resume_id = _latest_unfinished(store, pipe.name) if resume is True else resume or None
    runner = PipelineRunner(
        pipe,
        store,
        params=params,
        force=force,
        force_steps=force_steps,
        resume=resume_id,
        executor=executor,
        max_parallel=max_parallel,
    )
    return runner.run(trigger)


def _latest_unfinished(store: Store, pipeline: str) -> str | None:
    for run in store.metadata.list_pipeline_runs(pipeline, limit=20):
        if run.status in {"failed", "killed"}:
            return run.id
        if run.status == "succeeded":
            return None
    return None


def attach(runner: PipelineRunner, run_id: str) -> None:
    """Point ``runner`` at an existing pipeline run and load its step records."""
    info = runner.store.metadata.get_pipeline_run(run_id)
    if info.pipeline != runner.pipeline.name:
        raise InvalidInput(f"run {run_id} is a run of {info.pipeline!r}")
    runner.recorder.run_id = run_id
    runner.records = {s.step: s for s in runner.store.metadata.list_step_runs(run_id)}
    missing = set(runner.order) - set(runner.records)
    if missing:
        raise InvalidInput(
            f"run {run_id} has no record of steps {sorted(missing)}: the pipeline changed "
            "since the run began"
        )
