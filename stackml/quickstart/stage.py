"""The ``Stage`` extension point: one step of the quickstart, and what it reports back."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext


@dataclass(frozen=True)
class StageResult:
    """What a stage achieved, for later stages and the final summary.

    Attributes:
        headline: One line for the summary table, e.g. ``"test accuracy 0.97"``.
        metrics: Numbers later stages compare against (e.g. ``{"test_accuracy": 0.97}``).
        run_ids: Runs the stage recorded, the main one first.
        details: Other named outputs, such as paths of files it wrote.
    """

    headline: str
    metrics: dict[str, float] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        """The stage's main run, if it recorded any."""
        return self.run_ids[0] if self.run_ids else None


class Stage(abc.ABC):
    """One step of the quickstart.

    Subclasses set ``name`` (a short slug, the key of its result in
    :attr:`QuickstartContext.results`) and ``title`` (shown in the progress display), and
    implement :meth:`run`. A stage reads what earlier stages left in the context, reports
    progress with :meth:`QuickstartContext.note` and raises a
    :class:`~stackml.errors.StackmlError` when it cannot go on.
    """

    name: str
    title: str

    @abc.abstractmethod
    def run(self, ctx: QuickstartContext) -> StageResult:
        """Do the stage's work and return its result."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
