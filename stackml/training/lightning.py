"""A PyTorch Lightning logger that records into stackml (needs ``pip install stackml[lightning]``).

::

    from lightning.pytorch import Trainer
    from stackml.training.lightning import StackmlLogger

    Trainer(logger=StackmlLogger(project="digits")).fit(module, data)
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from typing import Any

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
except ImportError as exc:  # optional extra
    raise ImportError(
        "stackml.training.lightning needs PyTorch Lightning: pip install 'stackml[lightning]'"
    ) from exc

from stackml.tracking import ActiveRun, start_run

__all__ = ["StackmlLogger"]


class StackmlLogger(Logger):  # type: ignore[misc]
    """Log Lightning metrics and hyperparameters to a stackml run (rank zero only).

    Args:
        project: Project of the run.
        name: Run name.
        tags: Run tags.
        run: Log to this active run instead of starting one.
    """

    def __init__(
        self,
        project: str = "default",
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run: ActiveRun | None = None,
    ) -> None:
        super().__init__()
        self._project = project
        self._name = name
        self._tags = dict(tags or {})
        self._run = run
        self._owns_run = run is None

    @property
    def name(self) -> str:
        return self._project

    @property
    def version(self) -> str:
        return self.experiment.id

    @property
    @rank_zero_experiment
    def experiment(self) -> ActiveRun:
        """The stackml run (started on first use)."""
        if self._run is None:
            self._run = start_run(project=self._project, name=self._name, tags=self._tags)
        return self._run

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kw: Any) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        self.experiment.log_params(values)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.experiment.log_metrics(metrics, step=step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is None:
            return
        if self._owns_run:
            self._run.finish("completed" if status == "success" else "failed")
        else:
            self._run.flush()
