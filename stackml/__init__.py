"""stackml: a self-hosted, all-in-one ML platform.

The tracking API is re-exported here::

    import stackml

    with stackml.start_run(project="digits", params={"lr": 3e-4}) as run:
        run.log_metrics({"loss": 0.12}, step=3)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackml._version import __version__
from stackml.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    StackmlError,
    Unauthorized,
)

if TYPE_CHECKING:  # type checkers see the real names; at run time they load lazily
    from stackml.pipelines import Step, pipeline, step
    from stackml.tracking import (
        ActiveRun,
        active_run,
        flush,
        get_run,
        metric_history,
        search_runs,
        start_run,
    )

_TRACKING_EXPORTS = frozenset(
    {"ActiveRun", "active_run", "flush", "get_run", "metric_history", "search_runs", "start_run"}
)

_PIPELINE_EXPORTS = frozenset({"Step", "pipeline", "step"})


def __getattr__(name: str) -> object:
    # The tracking API is loaded on first use so that ``import stackml.store`` (and the CLI)
    # stay light and lower layers can be imported without the SDK.
    if name in _TRACKING_EXPORTS:
        import stackml.tracking as tracking

        return getattr(tracking, name)
    if name in _PIPELINE_EXPORTS:  # @stackml.step, @stackml.pipeline, stackml.Step
        import stackml.pipelines as pipelines

        return getattr(pipelines, name)
    if name == "models":  # the model registry's facade: stackml.models.load("digits@production")
        import importlib

        return importlib.import_module("stackml.models")
    raise AttributeError(f"module 'stackml' has no attribute {name!r}")


__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "StackmlError",
    "Step",
    "Unauthorized",
    "__version__",
    "active_run",
    "flush",
    "get_run",
    "metric_history",
    "models",
    "pipeline",
    "search_runs",
    "start_run",
    "step",
]
