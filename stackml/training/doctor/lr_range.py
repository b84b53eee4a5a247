"""Learning-rate range test: raise the learning rate exponentially over a short run, record
the loss, and suggest the rate where the (smoothed) loss falls fastest."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput

if TYPE_CHECKING:
    import torch

__all__ = ["LRRangeResult", "lr_range_test"]


@dataclass(frozen=True)
class LRRangeResult:
    """Learning rates tried, the smoothed loss at each and the suggested rate."""

    lrs: list[float]
    losses: list[float]
    suggested_lr: float

    def plot(self, path: str | Path) -> Path:
        """Save loss against learning rate (log scale) as a PNG; needs matplotlib."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise InvalidInput("plotting needs matplotlib: pip install matplotlib") from exc
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(self.lrs, self.losses)
        ax.axvline(self.suggested_lr, linestyle="--", color="grey")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss (smoothed)")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)


def lr_range_test(
    model: torch.nn.Module,
    batches: Iterable[tuple[Any, Any]] | tuple[Any, Any],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    start_lr: float = 1e-6,
    end_lr: float = 1.0,
    steps: int = 100,
    optimizer: Callable[..., torch.optim.Optimizer] | None = None,
    smoothing: float = 0.9,
    diverge_factor: float = 4.0,
) -> LRRangeResult:
    """Run the range test on a copy of ``model`` (the model itself is left untouched).

    Args:
        model: The model.
        batches: A loader (cycled as needed) or one ``(inputs, targets)`` batch.
        loss_fn: The training loss.
        start_lr: First learning rate.
        end_lr: Last learning rate.
        steps: Steps from ``start_lr`` to ``end_lr``.
        optimizer: Factory ``f(params, lr=...)``; default ``torch.optim.Adam``.
        smoothing: Exponential smoothing of the loss (0 turns it off).
        diverge_factor: Stop once the smoothed loss exceeds this multiple of the best.

    Returns:
        The curve and a suggested learning rate (steepest descent of the smoothed loss,
        capped a factor of 10 below the rate with the lowest loss).
    """
    import torch

    if not 0 < start_lr < end_lr or steps < 5:
        raise InvalidInput("need 0 < start_lr < end_lr and at least 5 steps")
    net = copy.deepcopy(model)
    net.train()
    factory = optimizer or torch.optim.Adam
    opt = factory(net.parameters(), lr=start_lr)
    ratio = (end_lr / start_lr) ** (1 / (steps - 1))
    single = isinstance(batches, tuple)
    source: Any = None
    lrs: list[float] = []
    losses: list[float] = []
    avg = 0.0
    best = math.inf
    for i in range(steps):
        if single:
            x, y = batches  # type: ignore[misc]
        else:
            try:
                x, y = next(source) if source is not None else next(source := iter(batches))  # type: ignore[arg-type]
            except StopIteration:
                source = iter(batches)  # type: ignore[arg-type]
                x, y = next(source)
        lr = start_lr * ratio**i
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        value = float(loss.detach())
        if not math.isfinite(value):
            break
        avg = smoothing * avg + (1 - smoothing) * value
        smoothed = avg / (1 - smoothing ** (i + 1)) if smoothing else value
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > diverge_factor * best:
            break
        loss.backward()
        opt.step()
    if len(losses) < 3:
        raise InvalidInput("the loss diverged at once: lower start_lr")
    logs = [math.log10(lr) for lr in lrs]
    slopes = [
        (losses[i + 1] - losses[i - 1]) / (logs[i + 1] - logs[i - 1])
        for i in range(1, len(losses) - 1)
    ]
    steepest = lrs[1 + min(range(len(slopes)), key=slopes.__getitem__)]
    at_min = lrs[min(range(len(losses)), key=losses.__getitem__)]
    return LRRangeResult(lrs, losses, min(steepest, at_min / 10) if at_min > 0 else steepest)
