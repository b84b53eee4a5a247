"""The outcome of a pipeline run, and how to load what its steps produced."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stackml.errors import NotFound, StackmlError
from stackml.pipelines.materializers import (
    MaterializeContext,
    Stored,
    get_materializer,
    scratch_dir,
)

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.pipelines_base import StepRunInfo

__all__ = ["PipelineResult"]


@dataclass(frozen=True)
class PipelineResult:
    """How a pipeline run ended, with every step's record."""

    run_id: str
    pipeline: str
    status: str
    steps: Mapping[str, StepRunInfo]
    store: Store

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def cache_hits(self) -> list[str]:
        """Steps whose outputs came from the cache or from the resumed run."""
        return [n for n, s in self.steps.items() if s.status in {"cached", "resumed"}]

    @property
    def executed(self) -> list[str]:
        """Steps that ran in this run (whatever their outcome)."""
        return [n for n, s in self.steps.items() if s.status in {"succeeded", "failed", "killed"}]

    def output(self, step: str, name: str = "output") -> Any:
        """Load output ``name`` of ``step``. Raises ``NotFound`` when it has none."""
        record = self.steps.get(step)
        for out in record.outputs if record else ():
            if out["name"] == name:
                ctx = MaterializeContext(self.store, scratch_dir())
                stored = Stored(out["hash"], dict(out.get("meta") or {}))
                return get_materializer(out["materializer"]).load(stored, ctx)
        raise NotFound(f"step {step!r} of run {self.run_id} has no output {name!r}")

    def raise_for_status(self) -> PipelineResult:
        """Raise ``StackmlError`` naming the failed steps unless the run succeeded."""
        if not self.succeeded:
            bad = {n: s.error for n, s in self.steps.items() if s.status in {"failed", "killed"}}
            raise StackmlError(f"pipeline {self.pipeline!r} run {self.run_id} {self.status}: {bad}")
        return self
