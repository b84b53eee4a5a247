"""stackml: a self-hosted, all-in-one ML platform.

The tracking API is re-exported here::

    import stackml

    with stackml.start_run(project="digits", params={"lr": 3e-4}) as run:
        run.log_metrics({"loss": 0.12}, step=3)
"""

from __future__ import annotations

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
from stackml.tracking import (
    ActiveRun,
    active_run,
    flush,
    get_run,
    metric_history,
    search_runs,
    start_run,
)

__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "StackmlError",
    "Unauthorized",
    "__version__",
    "active_run",
    "flush",
    "get_run",
    "metric_history",
    "search_runs",
    "start_run",
]
