"""Checkpoints: model weights (safetensors), optimizer, scheduler and RNG states, step.

A checkpoint is a directory ``step-<n>/`` holding ``model.safetensors``, ``state.pt`` (every
other state, tensors and plain values only, read back with ``torch.load(weights_only=True)`` so
loading one never runs code) and ``meta.json``. It is written into a temporary directory and
renamed, so a process killed mid-write (``kill -9``) leaves the previous checkpoints intact and
no half-written one that looks complete.

:class:`Checkpointer` writes checkpoints by a :class:`CheckpointPolicy` (every n steps and on
a new best value of a metric), keeps the last k plus the best on disk, and mirrors them to the
run's artifacts under fixed slots (``checkpoints/last-<i>/``, ``checkpoints/best/``) so that a
replaced checkpoint's blobs become unreferenced and ``stackml gc`` can reclaim them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import torch

    from stackml.tracking import ActiveRun

__all__ = ["CheckpointPolicy", "Checkpointer", "load_checkpoint", "save_checkpoint"]

WEIGHTS = "model.safetensors"
STATE = "state.pt"
META = "meta.json"


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to write checkpoints and which to keep.

    Attributes:
        every_n_steps: Write one every n optimisation steps (``None``: only at epoch ends).
        every_epoch: Also write one at the end of every epoch.
        keep_last: How many of the most recent checkpoints to keep (at least 1).
        keep_best: Keep the checkpoint with the best ``metric`` value as well.
        metric: The metric that decides "best" (e.g. ``"val/loss"``).
        mode: ``"min"`` or ``"max"``: whether a smaller or larger ``metric`` is better.
    """

    every_n_steps: int | None = None
    every_epoch: bool = True
    keep_last: int = 2
    keep_best: bool = True
    metric: str | None = None
    mode: str = "min"

    def __post_init__(self) -> None:
        if self.keep_last < 1:
            raise InvalidInput("keep_last must be at least 1")
        if self.every_n_steps is not None and self.every_n_steps < 1:
            raise InvalidInput("every_n_steps must be at least 1")
        if self.mode not in ("min", "max"):
            raise InvalidInput(f"mode must be 'min' or 'max', not {self.mode!r}")

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` (a NaN never does)."""
        if math.isnan(value):
            return False
        if best is None:
            return True
        return value < best if self.mode == "min" else value > best


def save_checkpoint(
    directory: str | Path,
    *,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    state: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Write checkpoint ``directory/step-<step>/`` atomically and return its path.

    Args:
        directory: Folder of checkpoints (created if missing).
        step: The global step the checkpoint is taken after.
        model: Its ``state_dict`` goes to safetensors (shared tensors are handled).
        optimizer: Its ``state_dict`` is saved when given.
        scheduler: A learning-rate scheduler; its ``state_dict`` is saved when given.
        state: Further tensors and plain values (loop position, RNG states...).
        metrics: Metric values at this step, kept in ``meta.json``.
    """
    import torch
    from safetensors.torch import save_model

    from stackml.training.seeding import rng_state

    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:09d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        save_model(model, str(tmp / WEIGHTS))
        payload = {
            "step": step,
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "rng": rng_state(),
            "state": state or {},
        }
        torch.save(payload, tmp / STATE)
        meta = {"step": step, "metrics": metrics or {}}
        (tmp / META).write_text(json.dumps(meta, sort_keys=True, allow_nan=True))
        for name in (WEIGHTS, STATE, META):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    restore_rng: bool = True,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and the rest).

    Returns:
        ``{"step": int, "state": dict, "metrics": dict}``.

    Raises:
        NotFound: ``path`` is not a complete checkpoint.
    """
    import torch
    from safetensors.torch import load_model

    from stackml.training.seeding import set_rng_state

    path = Path(path)
    if not (path / WEIGHTS).is_file() or not (path / STATE).is_file():
        raise NotFound(f"no checkpoint at {path}")
    load_model(model, str(path / WEIGHTS), device=str(map_location))
    payload = torch.load(path / STATE, map_location=map_location, weights_only=True)
    if optimizer is not None and payload["optimizer"] is not None:
        optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    if restore_rng:
        set_rng_state(payload["rng"])
    meta = json.loads((path / META).read_text()) if (path / META).is_file() else {}
    return {"step": payload["step"], "state": payload["state"], "metrics": meta.get("metrics", {})}


def _complete(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step-*") if (p / META).is_file() and (p / STATE).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


class Checkpointer:
    """Write, retain and mirror checkpoints of one training run.

    Args:
        directory: Local folder of the checkpoints; a resumed run passes the same folder.
        policy: When to write and what to keep.
        run: When given, every kept checkpoint is also stored as artifacts of this run.
    """

    def __init__(
        self,
        directory: str | Path,
        policy: CheckpointPolicy | None = None,
        *,
        run: ActiveRun | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.policy = policy or CheckpointPolicy()
        self.run = run
        self._index_path = self.directory / "index.json"
        self._index = self._read_index()

    def _read_index(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._index_path.read_text()))
        except (OSError, ValueError):
            return {"best": None, "best_value": None, "saves": 0}

    def _write_index(self) -> None:
        tmp = self._index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._index, sort_keys=True))
        os.replace(tmp, self._index_path)

    @property
    def best_value(self) -> float | None:
        """The best value of the policy's metric seen so far."""
        value = self._index.get("best_value")
        return None if value is None else float(value)

    def due(self, step: int) -> bool:
        """Whether the policy wants a periodic checkpoint after ``step``."""
        every = self.policy.every_n_steps
        return every is not None and step % every == 0

    def save(
        self,
        *,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        state: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> Path:
        """Write a checkpoint, apply retention and mirror it to the run; returns its path."""
        path = save_checkpoint(
            self.directory,
            step=step,
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            state=state,
            metrics=metrics,
        )
        metric = self.policy.metric
        is_best = False
        if metric is not None and metrics and metric in metrics:
            value = float(metrics[metric])
            if self.policy.better(value, self.best_value):
                self._index["best"] = path.name
                self._index["best_value"] = value
                is_best = True
        self._index["saves"] = int(self._index.get("saves", 0)) + 1
        self._write_index()
        self._retain()
        if self.run is not None:
            slot = f"last-{(self._index['saves'] - 1) % self.policy.keep_last}"
            self.run.log_artifact(path, f"checkpoints/{slot}")
            if is_best and self.policy.keep_best:
                self.run.log_artifact(path, "checkpoints/best")
            self.run.log_dict(self.describe(), "checkpoints/index.json")
        return path

    def _retain(self) -> None:
        complete = _complete(self.directory)
        keep = set(complete[-self.policy.keep_last :])
        if self.policy.keep_best and self._index.get("best"):
            keep.add(self.directory / self._index["best"])
        for path in complete:
            if path not in keep:
                shutil.rmtree(path, ignore_errors=True)
        for leftover in self.directory.glob(".tmp-*"):  # from a process killed mid-write
            shutil.rmtree(leftover, ignore_errors=True)

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints on disk, oldest first."""
        return _complete(self.directory)

    def latest(self) -> Path | None:
        """The most recent complete checkpoint, or ``None``."""
        found = _complete(self.directory)
        return found[-1] if found else None

    def best(self) -> Path | None:
        """The checkpoint with the best metric value, or ``None``."""
        name = self._index.get("best")
        return self.directory / name if name and (self.directory / name).is_dir() else None

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary: kept checkpoints with their step and metrics, and the best."""
        kept = []
        for path in _complete(self.directory):
            meta = json.loads((path / META).read_text())
            # JSON has no NaN: a metric that was not a number is shown as null.
            values = {
                k: (v if isinstance(v, (int, float)) and math.isfinite(v) else None)
                for k, v in meta["metrics"].items()
            }
            kept.append({"name": path.name, "step": meta["step"], "metrics": values})
        return {
            "checkpoints": kept,
            "best": self._index.get("best"),
            "metric": self.policy.metric,
            "mode": self.policy.mode,
            "best_value": self.best_value,
        }
