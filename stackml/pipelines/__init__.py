"""Pipelines: steps, DAGs inferred from dataflow, content-hash caching, schedules, triggers.

::

    import stackml

    @stackml.step
    def load(n: int) -> list[int]:
        return list(range(n))

    @stackml.step
    def total(values: list[int]) -> int:
        return sum(values)

    @stackml.pipeline(project="demo")
    def numbers(n: int = 10):
        total(load(n))

    result = numbers.run({"n": 5})      # again: every step is a cache hit
    result.output("total")              # 10

See ``docs/pipelines.md``.
"""

from __future__ import annotations

from stackml.pipelines.api import run_pipeline
from stackml.pipelines.definition import (
    Pipeline,
    Step,
    StepOptions,
    dataset,
    known_pipelines,
    pipeline,
    step,
)
from stackml.pipelines.execution import StepOutcome, StepTask, current_store
from stackml.pipelines.executors import (
    Executor,
    InProcessExecutor,
    SubprocessExecutor,
    create_executor,
    register_executor,
)
from stackml.pipelines.materializers import (
    MaterializeContext,
    Materializer,
    Stored,
    register_materializer,
)
from stackml.pipelines.result import PipelineResult

__all__ = [
    "Executor",
    "InProcessExecutor",
    "MaterializeContext",
    "Materializer",
    "Pipeline",
    "PipelineResult",
    "Step",
    "StepOptions",
    "StepOutcome",
    "StepTask",
    "Stored",
    "SubprocessExecutor",
    "create_executor",
    "current_store",
    "dataset",
    "known_pipelines",
    "pipeline",
    "register_executor",
    "register_materializer",
    "run_pipeline",
    "step",
]
