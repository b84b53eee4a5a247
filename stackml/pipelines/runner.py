"""Running a pipeline: cache lookups, parallel branches, retries, resume and tracking.

The runner walks the DAG in waves. For every step whose inputs are ready it computes the
cache key (code + input hashes + params + declared dependencies); a key found in the cache
(or, on a resume, among the earlier run's successful steps) reuses the stored outputs without
running anything. Other steps go to their executor; independent ones run at once. A step that
fails or is killed stops only its descendants; the others finish and keep their outputs, so
running the pipeline again continues from the failure.

The pipeline run is a tracked run; each executed step is a child run tagged with the pipeline,
step and cache result, holding the step's log and outputs as artifacts, with lineage edges to
the artifacts and dataset versions it read and wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput
from stackml.pipelines import fingerprint as fp
from stackml.pipelines.definition import Pipeline
from stackml.pipelines.execution import StepOutcome, StepTask
from stackml.pipelines.executors import Executor, create_executor, known_executors
from stackml.pipelines.graph import DatasetInput, Graph, Node
from stackml.pipelines.materializers import MaterializeContext, materializer_for, scratch_dir
from stackml.pipelines.recording import Recorder
from stackml.pipelines.result import PipelineResult
from stackml.store.pipelines_base import PipelineInfo, StepRunInfo

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["PipelineRunner"]

_DONE = frozenset({"succeeded", "cached", "resumed"})


class PipelineRunner:
    """One run of one pipeline (see :func:`run_pipeline` for the options)."""

    def __init__(
        self,
        pipeline: Pipeline,
        store: Store,
        *,
        params: Mapping[str, Any] | None = None,
        force: bool = False,
        force_steps: Sequence[str] = (),
        resume: str | None = None,
        executor: str | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.store = store
        self.params = pipeline.bind(params)
        # Everything that can be wrong is found here, before anything runs.
        self.graph: Graph = pipeline.build(self.params)
        self.order = self.graph.validate()
        self.upstream = {name: node.upstream for name, node in self.graph.nodes.items()}
        unknown = set(force_steps) - set(self.graph.nodes)
        if unknown:
            raise InvalidInput(f"--force-step names unknown steps: {', '.join(sorted(unknown))}")
        self.force = force
        self.force_steps = set(force_steps)
        self.default_executor = executor or pipeline.executor
        self.max_parallel = max_parallel or pipeline.max_parallel
        for node in self.graph.nodes.values():
            name = self.executor_of(node)
            if name not in known_executors():
                raise InvalidInput(f"step {node.name!r}: unknown executor {name!r}")
        for node in self.graph.nodes.values():
            for arg, value in node.params.items():
                if isinstance(value, DatasetInput):  # an unknown dataset is found before a run
                    node.params[arg] = store.metadata.get_dataset_version(value.dataset, value.ref)
        self.resume_from = resume
        self.previous: dict[str, StepRunInfo] = {}
        self.records: dict[str, StepRunInfo] = {}
        self.recorder = Recorder(store, pipeline)
        self._executors: dict[str, Executor] = {}
        self._ctx = MaterializeContext(store, scratch_dir())

    def executor_of(self, node: Node) -> str:
        return node.step.executor or self.default_executor

    # -- set-up ---------------------------------------------------------------------------
    def register(self) -> PipelineInfo:
        """Save the pipeline's entrypoint and DAG in the store."""
        return self.store.metadata.save_pipeline(
            PipelineInfo(
                self.pipeline.name,
                self.pipeline.project,
                self.pipeline.entrypoint,
                self.recorder.source_root,
                self.pipeline.description,
                self.graph.spec(),
            )
        )

    def _load_previous(self) -> None:
        if self.resume_from is None:
            return
        run = self.store.metadata.get_pipeline_run(self.resume_from)
        if run.pipeline != self.pipeline.name:
            raise InvalidInput(f"run {run.id} is a run of {run.pipeline!r}, not this pipeline")
        self.previous = {
            s.step: s for s in self.store.metadata.list_step_runs(run.id) if s.status in _DONE
        }

    def start(self, trigger: str = "manual") -> str:
        """Record the pipeline run and its pending steps; answer the run id."""
        self.register()
        self._load_previous()
        run_id = self.recorder.start_pipeline_run(self.params, trigger, self.resume_from)
        self.records = {
            name: StepRunInfo(
                run_id,
                name,
                "pending",
                executor=self.executor_of(self.graph.nodes[name]),
                upstream=self.graph.nodes[name].upstream,
            )
            for name in self.order
        }
        self.store.metadata.save_step_runs(list(self.records.values()))
        return run_id

    # -- the walk -------------------------------------------------------------------------
    def run(self, trigger: str = "manual") -> PipelineResult:
        """Run every step (or reuse it) and answer the result."""
        self.start(trigger)
        try:
            self.walk(set(self.order))
        except BaseException as error:
            self.finish(interrupted=True, error=f"{type(error).__name__}: {error}")
            raise
        return self.finish()

    def walk(self, targets: set[str]) -> None:
        """Run the steps in ``targets`` whose inputs are ready, until none is left."""
        running: dict[Future[StepOutcome], tuple[str, StepTask, int]] = {}
        dirty: list[str] = []
        # Steps of ``targets`` not started yet, in order; it shrinks as the walk goes on.
        waiting = [n for n in self.order if n in targets]
        try:
            while True:
                waiting = [n for n in waiting if self.records[n].status == "pending"]
                self._skip_blocked(waiting, dirty)
                ready = [
                    n
                    for n in waiting
                    if self.records[n].status == "pending"
                    and all(self.records[u].status in _DONE for u in self.upstream[n])
                ]
                if ready:
                    tasks = self._reuse_or_prepare(ready, dirty)
                    if tasks:
                        # One write creates the steps' child runs, marks them running and
                        # records the steps finished since the last one, before any
                        # executor sees a step (a worker writes to its step's run).
                        self._flush(dirty)
                    # A lone step (nothing reused, so nothing else can become ready) may run
                    # in this thread.
                    alone = len(ready) == len(tasks) == 1 and not running
                    for name, task in tasks:
                        running[self._submit(name, task, alone=alone)] = (name, task, 1)
                    # Reused steps finish at once and may make more steps ready: look again.
                    continue
                if dirty:
                    self._flush(dirty)
                if not running:
                    return
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    name, task, attempt = running.pop(future)
                    outcome = future.result()
                    node = self.graph.nodes[name]
                    if outcome.status == "failed" and attempt <= node.step.options.retries:
                        alone = len(finished) == 1 and not running
                        retry = self._submit(name, task, alone=alone)
                        running[retry] = (name, task, attempt + 1)
                        continue
                    self._complete(name, task, outcome, attempt)
                    dirty.append(name)
        finally:
            for executor in self._executors.values():
                executor.close()
            self._executors.clear()
            if dirty:
                self._flush(dirty)

    def _skip_blocked(self, waiting: list[str], dirty: list[str]) -> None:
        """Mark ``skipped`` the waiting steps below a step that did not succeed (``waiting``
        is in DAG order, so a skip reaches the steps below it in the same pass)."""
        for name in waiting:
            record = self.records[name]
            if record.status != "pending":
                continue
            bad = [
                u
                for u in self.upstream[name]
                if self.records[u].status in {"failed", "killed", "skipped"}
            ]
            if bad:
                self.records[name] = replace(
                    record, status="skipped", error=f"{bad[0]} did not succeed"
                )
                dirty.append(name)

    def _flush(self, dirty: list[str]) -> None:
        names = list(dict.fromkeys(dirty))
        dirty.clear()
        self.recorder.flush([self.records[n] for n in names])

    # -- one step -------------------------------------------------------------------------
    def _inputs_of(self, node: Node) -> tuple[dict[str, Mapping[str, Any]], dict[str, Any]]:
        """Input refs (materialized values) and JSON params of a node."""
        inputs: dict[str, Mapping[str, Any]] = {}
        params: dict[str, Any] = {}
        for arg, source in node.inputs.items():
            outs = {o["name"]: o for o in self.records[source.node].outputs}
            inputs[arg] = outs[source.name]
        for arg, value in node.params.items():
            if _is_json(value):
                params[arg] = value
                continue
            m = materializer_for(value, allow_pickle=node.step.options.pickle)
            stored = m.save(value, self._ctx)
            inputs[arg] = {
                "name": arg,
                "materializer": m.name,
                "hash": stored.hash,
                "meta": dict(stored.meta),
            }
        return inputs, params

    def _key(
        self, node: Node, inputs: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]
    ) -> str:
        return fp.cache_key(
            code=fp.code_fingerprint(node.step.fn),
            inputs={arg: f"{ref['materializer']}:{ref['hash']}" for arg, ref in inputs.items()},
            params={arg: fp.value_fingerprint(v) for arg, v in params.items()},
            deps=[fp.dependency_fingerprint(d) for d in node.step.options.deps],
            outputs=node.step.outputs,
            extra={"pickle": node.step.options.pickle},
        )

    def _reuse_or_prepare(self, ready: list[str], dirty: list[str]) -> list[tuple[str, StepTask]]:
        prepared: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}
        for name in ready:
            node = self.graph.nodes[name]
            inputs, params = self._inputs_of(node)
            prepared[name] = (self._key(node, inputs, params), inputs, params)
        wanted = [
            key
            for name, (key, _, _) in prepared.items()
            if self.graph.nodes[name].step.cache and not self.force and name not in self.force_steps
        ]
        hits = self.store.metadata.get_cache_entries(wanted) if wanted else {}
        to_run: list[tuple[str, StepTask]] = []
        stamp = now_ms()
        for name, (key, inputs, params) in prepared.items():
            record = replace(self.records[name], cache_key=key)
            earlier = self.previous.get(name)
            forced = self.force or name in self.force_steps
            if key in hits and key in wanted:
                entry = hits[key]
                record = replace(
                    record,
                    status="cached",
                    cache_hit=True,
                    outputs=entry.outputs,
                    run_id=entry.run_id,
                    started_at=stamp,
                    ended_at=stamp,
                )
            elif earlier is not None and earlier.cache_key == key and not forced:
                record = replace(
                    record,
                    status="resumed",
                    cache_hit=True,
                    outputs=earlier.outputs,
                    run_id=earlier.run_id,
                    started_at=stamp,
                    ended_at=stamp,
                )
            else:
                node = self.graph.nodes[name]
                run_id = self.recorder.start_step_run(name, key, inputs)
                record = replace(
                    record, status="running", run_id=run_id, started_at=now_ms(), attempts=1
                )
                to_run.append((name, self._task(node, run_id, inputs, params)))
            self.records[name] = record
            dirty.append(name)
        return to_run

    def _task(
        self, node: Node, run_id: str, inputs: Mapping[str, Any], params: Mapping[str, Any]
    ) -> StepTask:
        location = self.store.location
        return StepTask(
            pipeline=self.pipeline.name,
            pipeline_run_id=self.recorder.run_id,
            step=node.name,
            function=node.step.qualified_name,
            source_file=node.step.source_file,
            run_id=run_id,
            inputs=dict(inputs),
            params=dict(params),
            outputs=node.step.outputs,
            allow_pickle=node.step.options.pickle,
            timeout=node.step.options.timeout,
            resources=dict(node.step.options.resources),
            tracking_uri=location.metadata_url,
            artifact_uri=location.blob_url,
        )

    def _submit(self, name: str, task: StepTask, *, alone: bool) -> Future[StepOutcome]:
        node = self.graph.nodes[name]
        executor_name = self.executor_of(node)
        executor = self._executors.get(executor_name)
        if executor is None:
            executor = create_executor(executor_name, self.store, self.max_parallel)
            self._executors[executor_name] = executor
        if alone:
            return executor.submit_alone(task, node.step)
        return executor.submit(task, node.step)

    def _complete(self, name: str, task: StepTask, outcome: StepOutcome, attempts: int) -> None:
        node = self.graph.nodes[name]
        record = self.records[name]
        log_hash = self.recorder.finish_step_run(task, outcome)
        record = replace(
            record,
            status=outcome.status,
            ended_at=now_ms(),
            attempts=attempts,
            outputs=tuple(outcome.outputs),
            log_hash=log_hash,
            error=outcome.error,
        )
        if outcome.status == "succeeded" and node.step.cache:
            self.recorder.cache(name, record)
        self.records[name] = record

    # -- the end --------------------------------------------------------------------------
    def finish(self, *, interrupted: bool = False, error: str = "") -> PipelineResult:
        """Mark steps left over and the run itself; answer the result."""
        left = [n for n, r in self.records.items() if r.status in {"pending", "running"}]
        for name in left:
            record = self.records[name]
            status = "killed" if interrupted else "skipped"
            if record.status == "running" and record.run_id:
                self.recorder.close_run(record.run_id, "killed")  # its tracked run too
            self.records[name] = replace(record, status=status, ended_at=now_ms())
        # Everything else was saved as it finished (walk flushes on its way out).
        self.recorder.flush([self.records[n] for n in left])
        states = {r.status for r in self.records.values()}
        if interrupted:
            status = "failed" if error and "KeyboardInterrupt" not in error else "killed"
        elif states <= _DONE:
            status = "succeeded"
        elif "failed" in states:
            status = "failed"
        else:
            status = "killed"
        errors = [f"{n}: {r.error}" for n, r in self.records.items() if r.error][:5]
        if error:
            errors.insert(0, error)
        self.recorder.finish_pipeline_run(status, "; ".join(errors), self.records)
        return PipelineResult(
            self.recorder.run_id, self.pipeline.name, status, dict(self.records), self.store
        )


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def __getattr__(name: str) -> Any:
    # ``run_pipeline`` lives in :mod:`stackml.pipelines.api` (it imports this module); the
    # old import path ``stackml.pipelines.runner.run_pipeline`` keeps working.
    if name == "run_pipeline":
        from stackml.pipelines.api import run_pipeline

        return run_pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
