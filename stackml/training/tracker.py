"""Tracking for plain PyTorch loops: losses, metrics, learning rate, gradient norms,
throughput and system utilisation, logged to a stackml run.

::

    from stackml.training import Tracker

    with Tracker(project="digits", params={"lr": 3e-4}) as tracker:
        for x, y in loader:
            loss = step(x, y)
            tracker.log_step(loss=loss, batch_size=len(x), optimizer=opt)

The hot path (:meth:`Tracker.log_step`) only builds a small dict and hands it to the run's
background writer; gradient norms (a pass over every parameter) are off unless asked for.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from stackml.tracking import ActiveRun, start_run

if TYPE_CHECKING:
    import torch

__all__ = ["ENTRYPOINT_TAG", "REPRODUCES_ENV", "REPRODUCES_TAG", "Tracker", "grad_norm"]

#: Tag naming what to call to train again (``path/to/script.py:function``); read by
#: ``stackml runs reproduce``.
ENTRYPOINT_TAG = "stackml.entrypoint"
#: Tag on a run started by ``stackml runs reproduce``: the id of the run it reproduces.
REPRODUCES_TAG = "stackml.reproduces"
#: Environment variable through which ``reproduce`` tells the re-run what it reproduces.
REPRODUCES_ENV = "STACKML_REPRODUCES"


def grad_norm(model: torch.nn.Module) -> float:
    """The global L2 norm of every parameter's gradient (0.0 when none has one)."""
    import torch

    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))


def _default_entrypoint() -> str | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return os.path.abspath(path) if path else None


def absolute_entrypoint(entrypoint: str) -> str:
    """``script.py:function`` with the script made absolute, so the run can find it again."""
    path, sep, func = entrypoint.rpartition(":")
    if not sep or not path.endswith(".py"):
        path, func = entrypoint, ""
    absolute = os.path.abspath(path)
    return f"{absolute}:{func}" if func else absolute


class Tracker:
    """Log a PyTorch training loop to a stackml run.

    Args:
        run: An active run to log to; when ``None`` one is started with ``project``,
            ``name``, ``params`` and ``tags`` and finished by :meth:`finish`.
        project: Project of the run started here.
        name: Name of the run started here.
        params: Params of the run started here.
        tags: Tags of the run started here.
        entrypoint: What reproduces this run, ``"script.py:function"`` (the function takes
            the run's params as keyword arguments) or ``"script.py"``; defaults to the
            ``__main__`` script. Recorded with an absolute path as ``stackml.entrypoint``.
        log_every: Log every n-th call of :meth:`log_step` (1 logs every step).
        grad_norms: Log ``grad_norm`` on each logged step (needs ``model`` in ``log_step``).
        system_every_s: Seconds between CPU/memory samples (psutil, when installed);
            ``None`` turns them off.
        tracking_uri: Store of the run started here (default: the configured one).

    Not thread-safe: call it from the training loop's thread.
    """

    def __init__(
        self,
        run: ActiveRun | None = None,
        *,
        project: str = "default",
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        entrypoint: str | None = None,
        log_every: int = 1,
        grad_norms: bool = False,
        system_every_s: float | None = 10.0,
        tracking_uri: str | None = None,
    ) -> None:
        if log_every < 1:
            raise ValueError("log_every must be at least 1")
        self._owns_run = run is None
        all_tags = dict(tags or {})
        entry = absolute_entrypoint(entrypoint) if entrypoint else _default_entrypoint()
        if entry:
            all_tags.setdefault(ENTRYPOINT_TAG, entry)
        reproduces = os.environ.get(REPRODUCES_ENV)
        if reproduces:
            all_tags.setdefault(REPRODUCES_TAG, reproduces)
        if run is None:
            run = start_run(
                project=project, name=name, params=params, tags=all_tags, tracking_uri=tracking_uri
            )
        else:
            if params:
                run.log_params(params)
            if all_tags:
                run.set_tags(all_tags)
        self.run: ActiveRun = run
        self.step = 0
        self._log_every = log_every
        self._grad_norms = grad_norms
        self._calls = 0
        self._window_samples = 0
        self._window_start = time.perf_counter()
        self._system_every = system_every_s
        self._next_system = time.monotonic()
        self._process: Any = None
        if system_every_s is not None:
            try:
                import psutil
            except ImportError:  # optional: utilisation is a courtesy
                self._system_every = None
            else:
                self._process = psutil.Process()
                self._process.cpu_percent(None)  # the first call only starts the interval

    @property
    def run_id(self) -> str:
        """The id of the run logged to."""
        return self.run.id

    def log_step(
        self,
        loss: Any = None,
        *,
        step: int | None = None,
        batch_size: int | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        model: torch.nn.Module | None = None,
        metrics: Mapping[str, Any] | None = None,
        prefix: str = "train/",
    ) -> None:
        """Record one optimisation step.

        Args:
            loss: The step's loss (a tensor or number), logged as ``train/loss``.
            step: The global step; defaults to one more than the last.
            batch_size: Samples in the step, for ``train/samples_per_s``.
            optimizer: Its first parameter group's ``lr`` is logged as ``train/lr``.
            model: Needed for gradient norms.
            metrics: Further values, logged under ``prefix``.
            prefix: Prefix of every key logged here.
        """
        self.step = self.step + 1 if step is None else step
        self._calls += 1
        if batch_size:
            self._window_samples += batch_size
        if self._calls % self._log_every:
            return
        values: dict[str, Any] = {}
        if loss is not None:
            # ``.item()`` syncs a GPU; the run would do it anyway to store the value.
            values[prefix + "loss"] = loss.item() if hasattr(loss, "item") else loss
        if optimizer is not None:
            values[prefix + "lr"] = optimizer.param_groups[0]["lr"]
        if self._grad_norms and model is not None:
            values[prefix + "grad_norm"] = grad_norm(model)
        if metrics:
            for key, value in metrics.items():
                values[prefix + key] = value
        now = time.perf_counter()
        if self._window_samples and now > self._window_start:
            values[prefix + "samples_per_s"] = self._window_samples / (now - self._window_start)
            self._window_samples = 0
            self._window_start = now
        self.run.log_metrics(values, step=self.step)
        if self._system_every is not None and time.monotonic() >= self._next_system:
            self._log_system()

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int | None = None) -> None:
        """Log evaluation or other metrics at ``step`` (default: the current step)."""
        self.run.log_metrics(metrics, step=self.step if step is None else step)

    def _log_system(self) -> None:
        import psutil

        self._next_system = time.monotonic() + (self._system_every or 0.0)
        values = {
            "system/cpu_percent": self._process.cpu_percent(None),
            "system/rss_mb": self._process.memory_info().rss / 2**20,
            "system/memory_percent": psutil.virtual_memory().percent,
        }
        self.run.log_metrics(values, step=self.step)

    def finish(self, status: str = "completed") -> None:
        """Flush; finish the run too when this tracker started it."""
        if self._owns_run:
            self.run.finish(status)
        else:
            self.run.flush()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish("completed")
        elif self._owns_run:
            self.run.__exit__(exc_type, exc, tb)
