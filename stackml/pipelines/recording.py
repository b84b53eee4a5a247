"""Tracking of pipeline runs: the parent and child runs, logs, output artifacts, lineage.

A pipeline run is a tracked run tagged ``stackml.pipeline``; each step that executes is a
child run (``parent_id``) tagged with the step name and ``stackml.cache=miss``. A step reused
from the cache does no work, so it gets no new run: its record points at the run that
produced the outputs. Outputs are the child run's artifacts (``outputs/<name>``), its
captured output is ``logs/step.log``, and lineage edges join the runs to the content of
the artifacts (``pipeline_artifact``) and the dataset versions they read.

Step records are buffered and written by :meth:`Recorder.flush` in one transaction
(``write_pipeline_records``): the child runs of steps about to execute, with their tags and
input edges, together with everything about the steps finished since the last flush.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml._internal.timeutil import now_ms
from stackml.store.entities import Artifact, LineageEdge, RunStatus
from stackml.store.pipelines_base import (
    CacheEntry,
    FinishedRun,
    PipelineRunInfo,
    PipelineWrites,
    StartedRun,
    StepRunInfo,
)

if TYPE_CHECKING:
    from stackml.pipelines.definition import Pipeline
    from stackml.pipelines.execution import StepOutcome, StepTask
    from stackml.store import Store

__all__ = ["ARTIFACT_ENTITY", "Recorder", "source_root_of"]

#: Lineage entity type of a step output, identified by its blob hash.
ARTIFACT_ENTITY = "pipeline_artifact"
_MEDIA = {
    "json": "application/json",
    "numpy": "application/x-npy",
    "parquet": "application/vnd.apache.parquet",
    "files": "application/json",
    "dataset": "application/json",
}
_RUN_STATUS = {
    "succeeded": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "killed": RunStatus.KILLED,
}


def source_root_of(pipeline: Pipeline) -> str:
    """The folder that must be on ``sys.path`` to import the pipeline's module."""
    import inspect

    module = pipeline.fn.__module__
    source = inspect.getsourcefile(pipeline.fn)
    if not source or module == "__main__":
        return str(Path(source).resolve().parent) if source else ""
    path = Path(source).resolve()
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return str(path.parents[depth]) if depth < len(path.parents) else ""


def _params(values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        try:
            out[key] = json.dumps(value) if not isinstance(value, str) else value
        except TypeError:
            out[key] = type(value).__name__
    return {k: v[:500] for k, v in out.items()}


class Recorder:
    """Writes what a pipeline run does into the store."""

    def __init__(self, store: Store, pipeline: Pipeline) -> None:
        self.store = store
        self.pipeline = pipeline
        self.source_root = source_root_of(pipeline)
        self.run_id = ""
        # Records of finished steps, written together by :meth:`flush` (one transaction).
        self._cache: list[CacheEntry] = []
        self._artifacts: list[Artifact] = []
        self._lineage: list[LineageEdge] = []
        self._finished: list[FinishedRun] = []
        self._started: list[StartedRun] = []

    def flush(self, steps: list[StepRunInfo]) -> None:
        """Write ``steps`` and every buffered record in one transaction."""
        writes = PipelineWrites(
            tuple(steps),
            tuple(self._cache),
            tuple(self._artifacts),
            tuple(self._lineage),
            tuple(self._finished),
            tuple(self._started),
        )
        if writes:
            self._meta.write_pipeline_records(writes)
        self._cache.clear()
        self._artifacts.clear()
        self._lineage.clear()
        self._finished.clear()
        self._started.clear()

    @property
    def _meta(self) -> Any:
        return self.store.metadata

    def start_pipeline_run(
        self, params: Mapping[str, Any], trigger: str, resumed_from: str | None
    ) -> str:
        tags = {
            "stackml.kind": "pipeline",
            "stackml.pipeline": self.pipeline.name,
            "stackml.trigger": trigger[:250],
        }
        if resumed_from:
            tags["stackml.resumed_from"] = resumed_from
        json_params = {k: v for k, v in params.items() if _jsonable(v)}
        run = self._meta.create_run(
            self.pipeline.project, name=self.pipeline.name, tags=tags, params=_params(params)
        )
        self.run_id = run.id
        self._meta.create_pipeline_run(
            PipelineRunInfo(
                run.id,
                self.pipeline.name,
                "running",
                trigger[:250],
                json_params,
                run.start_time,
                None,
                "",
                resumed_from,
            )
        )
        return run.id

    def start_step_run(self, step: str, key: str, inputs: Mapping[str, Mapping[str, Any]]) -> str:
        tags = {
            "stackml.kind": "pipeline_step",
            "stackml.pipeline": self.pipeline.name,
            "stackml.pipeline_run": self.run_id,
            "stackml.step": step,
            "stackml.cache": "miss",
            "stackml.cache_key": key,
        }
        # The child run is created by the next :meth:`flush`, in the transaction that marks
        # the step running (the runner flushes before it hands the step to an executor).
        stamp = now_ms()
        run_id = uuid.uuid4().hex
        self._started.append(
            StartedRun(run_id, self.run_id, f"{self.pipeline.name}.{step}", stamp, tags)
        )
        for arg, ref in inputs.items():
            if ref["materializer"] == "dataset":
                meta = ref.get("meta") or {}
                source = ("dataset_version", f"{meta.get('dataset')}@{meta.get('id')}")
            else:
                source = (ARTIFACT_ENTITY, ref["hash"])
            self._lineage.append(
                LineageEdge(*source, "run", run_id, "input", stamp, {"argument": arg})
            )
        return run_id

    def finish_step_run(self, task: StepTask, outcome: StepOutcome) -> str | None:
        """Store the step's log and outputs on its run, close the run; answer the log hash."""
        stamp = now_ms()
        data = outcome.log.encode()
        log_hash = None
        if data:
            log_hash = self.store.blobs.put_bytes(data)
            self._artifacts.append(
                Artifact(task.run_id, "logs/step.log", log_hash, len(data), "text/plain", stamp)
            )
        for out in outcome.outputs:
            self._log_output(task.run_id, out, stamp)
        status = _RUN_STATUS.get(outcome.status, RunStatus.FAILED)
        self._finished.append(FinishedRun(task.run_id, status.value, now_ms()))
        return log_hash

    def close_run(self, run_id: str, status: str) -> None:
        """Close a step's tracked run (``completed``, ``failed`` or ``killed``) with the
        next :meth:`flush`."""
        self._finished.append(FinishedRun(run_id, status, now_ms()))

    def _log_output(self, run_id: str, out: Mapping[str, Any], stamp: int) -> None:
        digest = out["hash"]
        media = _MEDIA.get(out["materializer"], "application/octet-stream")
        size = self.store.blobs.size(digest)
        path = f"outputs/{out['name']}"
        self._artifacts.append(Artifact(run_id, path, digest, size, media, stamp))
        if out["materializer"] == "files":
            # Every file of a tree is an artifact too, so it is kept and downloadable.
            files = json.loads(self.store.blobs.get_bytes(digest))["files"]
            for rel, file_hash in files.items():
                file_size = self.store.blobs.size(file_hash)
                self._artifacts.append(
                    Artifact(
                        run_id,
                        f"{path}.files/{rel}",
                        file_hash,
                        file_size,
                        "application/octet-stream",
                        stamp,
                    )
                )
        if out["materializer"] == "dataset":
            meta = out.get("meta") or {}
            target = ("dataset_version", f"{meta.get('dataset')}@{meta.get('id')}")
        else:
            target = (ARTIFACT_ENTITY, digest)
        self._lineage.append(
            LineageEdge("run", run_id, *target, "output", stamp, {"output": out["name"]})
        )

    def cache(self, step: str, record: StepRunInfo) -> None:
        self._cache.append(
            CacheEntry(record.cache_key, self.pipeline.name, step, record.outputs, record.run_id)
        )

    def finish_pipeline_run(
        self, status: str, error: str, records: Mapping[str, StepRunInfo]
    ) -> None:
        hits = sum(1 for r in records.values() if r.status in {"cached", "resumed"})
        ran = sum(1 for r in records.values() if r.status in {"succeeded", "failed", "killed"})
        self._meta.update_pipeline_run(
            self.run_id, status=status, ended_at=now_ms(), error=error[:60000]
        )
        self._meta.set_tags(
            self.run_id,
            {
                "stackml.cache_hits": str(hits),
                "stackml.steps_run": str(ran),
                "stackml.pipeline_status": status,
            },
        )
        final = RunStatus.COMPLETED if status == "succeeded" else _RUN_STATUS[status]
        self._meta.update_run(self.run_id, status=final, end_time=now_ms())


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True
