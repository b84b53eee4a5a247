"""A small trainer over plain PyTorch: fit, evaluate, predict, with exact resume.

Defaults follow the usual advice for a first model: Adam at 3e-4, cross-entropy, early
stopping on the validation loss, mixed precision only on CUDA, the model moved to the best
device available. Resume is exact on CPU: a checkpoint records the weights, optimizer,
scheduler, every RNG, the data loader's shuffling generator as it was at the start of the
epoch and how many batches of the epoch were done, so the resumed run replays the same batches
and the same dropout masks as the run that was interrupted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.training.checkpoint import Checkpointer, CheckpointPolicy, load_checkpoint

if TYPE_CHECKING:
    import torch
    from torch.utils.data import DataLoader

    from stackml.training.tracker import Tracker

__all__ = ["EarlyStopping", "FitResult", "Trainer", "accuracy"]

MetricFn = Callable[[Any, Any], float]


def accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    """Share of rows whose arg-max matches ``target``."""
    return float((logits.argmax(dim=-1) == target).float().mean())


@dataclass
class EarlyStopping:
    """Stop when ``metric`` has not improved for ``patience`` evaluations.

    Attributes:
        metric: Evaluation metric key, e.g. ``"val/loss"`` or ``"val/accuracy"``.
        mode: ``"min"`` or ``"max"``.
        patience: Evaluations without improvement before stopping.
        min_delta: Smallest change that counts as an improvement.
    """

    metric: str = "val/loss"
    mode: str = "min"
    patience: int = 3
    min_delta: float = 0.0
    best: float | None = None
    bad_epochs: int = 0

    def update(self, metrics: Mapping[str, float]) -> bool:
        """Record an evaluation; ``True`` when training should stop."""
        if self.metric not in metrics:
            raise InvalidInput(
                f"early stopping watches {self.metric!r} but evaluation gave {sorted(metrics)}"
            )
        value = float(metrics[self.metric])
        if self.best is None or (
            value < self.best - self.min_delta
            if self.mode == "min"
            else value > self.best + self.min_delta
        ):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` did."""

    steps: int
    epochs: int
    stopped_early: bool
    losses: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Fit, evaluate and predict a ``torch.nn.Module``.

    Args:
        model: The model.
        loss_fn: Loss of ``(output, target)``; default ``CrossEntropyLoss``.
        optimizer: Default ``Adam(lr=lr)``.
        lr: Learning rate of the default optimizer.
        scheduler: A scheduler stepped once per optimisation step.
        metrics: Evaluation metrics ``name -> fn(output, target)``; default accuracy.
        max_epochs: Epochs at most.
        early_stopping: Stop rule evaluated after each epoch with a validation loader.
        device: ``"cpu"``, ``"cuda"``...; default CUDA when available, else CPU.
        amp: Mixed precision; default on exactly when the device is CUDA.
        tracker: Where to log; nothing is logged without one.
        checkpoint_dir: Folder of checkpoints; none are written without one.
        checkpoint_policy: When to write checkpoints and which to keep.
        max_steps: Stop after this many optimisation steps in total.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        lr: float = 3e-4,
        scheduler: Any = None,
        metrics: Mapping[str, MetricFn] | None = None,
        max_epochs: int = 10,
        early_stopping: EarlyStopping | None = None,
        device: str | torch.device | None = None,
        amp: bool | None = None,
        tracker: Tracker | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_policy: CheckpointPolicy | None = None,
        max_steps: int | None = None,
    ) -> None:
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device)
        self.loss_fn = loss_fn or torch.nn.CrossEntropyLoss()
        self.optimizer = optimizer or torch.optim.Adam(self.model.parameters(), lr=lr)
        self.scheduler = scheduler
        self.metrics = dict(metrics) if metrics is not None else {"accuracy": accuracy}
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.early_stopping = early_stopping
        self.amp = (self.device.type == "cuda") if amp is None else amp
        if self.amp and self.device.type != "cuda":
            raise InvalidInput("mixed precision here needs a CUDA device")
        self._scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.tracker = tracker
        self.checkpointer = (
            Checkpointer(checkpoint_dir, checkpoint_policy, run=tracker.run if tracker else None)
            if checkpoint_dir is not None
            else None
        )
        self.step = 0

    def _to_device(self, batch: Any) -> Any:
        if hasattr(batch, "to"):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, (list, tuple)):
            return type(batch)(self._to_device(b) for b in batch)
        return batch

    def _train_step(self, x: Any, y: Any) -> torch.Tensor:
        import torch

        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.amp):
            loss = self.loss_fn(self.model(x), y)
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return loss.detach()

    def fit(
        self,
        train: DataLoader[Any],
        val: DataLoader[Any] | None = None,
        *,
        resume_from: str | Path | None = None,
    ) -> FitResult:
        """Train; evaluate on ``val`` after each epoch.

        For exact resume, build ``train`` with ``generator=torch.Generator()`` seeded by the
        caller: its state is checkpointed and replayed.

        Args:
            train: Batches of ``(inputs, targets)``.
            val: Validation batches; its metrics are logged as ``val/<name>``.
            resume_from: A checkpoint directory, or ``"latest"`` for the newest checkpoint
                in ``checkpoint_dir`` (a fresh start when there is none).

        Returns:
            Steps, epochs, whether early stopping fired, and the losses of this call's steps.
        """

        generator: torch.Generator | None = getattr(train, "generator", None)
        start_epoch, skip = 0, 0
        epoch_state: torch.Tensor | None = None
        if resume_from is not None:
            path = self._resolve(resume_from)
            if path is not None:
                loaded = load_checkpoint(
                    path,
                    model=self.model,
                    optimizer=self.optimizer,
                    scheduler=self.scheduler,
                    map_location=self.device,
                )
                state = loaded["state"]
                self.step = int(loaded["step"])
                start_epoch, skip = int(state["epoch"]), int(state["batch"])
                epoch_state = state.get("loader_rng")
                if self.early_stopping is not None and "early_best" in state:
                    best = float(state["early_best"])
                    self.early_stopping.best = None if math.isnan(best) else best
                    self.early_stopping.bad_epochs = int(state["early_bad"])
        result = FitResult(steps=self.step, epochs=start_epoch, stopped_early=False)
        for epoch in range(start_epoch, self.max_epochs):
            if generator is not None:
                if epoch_state is not None:
                    generator.set_state(epoch_state)
                epoch_state = generator.get_state()
            self.model.train()
            for batch_index, (x, y) in enumerate(train):
                if batch_index < skip:
                    continue  # replaying the batches done before the checkpoint
                loss = self._train_step(self._to_device(x), self._to_device(y))
                self.step += 1
                result.losses.append(float(loss))
                if self.tracker is not None:
                    self.tracker.log_step(
                        loss, step=self.step, batch_size=len(x), optimizer=self.optimizer
                    )
                if self.checkpointer is not None and self.checkpointer.due(self.step):
                    self._checkpoint(epoch, batch_index + 1, epoch_state, None)
                if self.max_steps is not None and self.step >= self.max_steps:
                    break
            skip = 0
            epoch_state = None
            result.epochs = epoch + 1
            metrics: dict[str, float] = {}
            if val is not None:
                metrics = {f"val/{k}": v for k, v in self.evaluate(val).items()}
                result.history.append(metrics)
                if self.tracker is not None:
                    self.tracker.log_metrics({**metrics, "epoch": epoch + 1}, step=self.step)
            stop = self.early_stopping is not None and bool(metrics)
            stop = stop and self.early_stopping.update(metrics)  # type: ignore[union-attr]
            if self.checkpointer is not None and self.checkpointer.policy.every_epoch:
                next_state = generator.get_state() if generator is not None else None
                self._checkpoint(epoch + 1, 0, next_state, metrics)
            if stop:
                result.stopped_early = True
                break
            if self.max_steps is not None and self.step >= self.max_steps:
                break
        result.steps = self.step
        return result

    def _resolve(self, resume_from: str | Path) -> Path | None:
        if str(resume_from) == "latest":
            if self.checkpointer is None:
                raise InvalidInput("resume_from='latest' needs a checkpoint_dir")
            return self.checkpointer.latest()
        return Path(resume_from)

    def _checkpoint(
        self,
        epoch: int,
        batch: int,
        loader_rng: torch.Tensor | None,
        metrics: dict[str, float] | None,
    ) -> None:
        assert self.checkpointer is not None
        state: dict[str, Any] = {"epoch": epoch, "batch": batch}
        if loader_rng is not None:
            state["loader_rng"] = loader_rng
        if self.early_stopping is not None:
            best = self.early_stopping.best
            state["early_best"] = math.nan if best is None else best
            state["early_bad"] = self.early_stopping.bad_epochs
        self.checkpointer.save(
            step=self.step,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            state=state,
            metrics=metrics,
        )

    def evaluate(self, loader: Iterable[Any]) -> dict[str, float]:
        """Mean loss and metrics over ``loader``, in eval mode, without gradients."""
        import torch

        was_training = self.model.training
        self.model.eval()
        totals: dict[str, float] = {"loss": 0.0, **dict.fromkeys(self.metrics, 0.0)}
        count = 0
        with torch.no_grad(), torch.autocast(self.device.type, enabled=self.amp):
            for x, y in loader:
                x, y = self._to_device(x), self._to_device(y)
                out = self.model(x)
                n = len(y)
                totals["loss"] += float(self.loss_fn(out, y)) * n
                for name, fn in self.metrics.items():
                    totals[name] += float(fn(out, y)) * n
                count += n
        self.model.train(was_training)
        if count == 0:
            raise InvalidInput("cannot evaluate on an empty loader")
        return {k: v / count for k, v in totals.items()}

    def predict(self, data: torch.Tensor | Iterable[Any]) -> torch.Tensor:
        """Model outputs for a tensor, or for every batch of a loader (inputs first)."""
        import torch

        was_training = self.model.training
        self.model.eval()
        outputs = []
        with torch.no_grad():
            if isinstance(data, torch.Tensor):
                outputs.append(self.model(self._to_device(data)).float().cpu())
            else:
                for batch in data:
                    x = batch[0] if isinstance(batch, (list, tuple)) else batch
                    outputs.append(self.model(self._to_device(x)).float().cpu())
        self.model.train(was_training)
        return torch.cat(outputs) if outputs else torch.empty(0)
