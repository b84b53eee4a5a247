"""Overfit one batch: a healthy model and loss drive the loss on a single batch near zero.

When they do not, the shape of the loss curve says where to look: an error that goes up
points at a sign flip, one that explodes at numerics or the learning rate, one that oscillates
at the learning rate, the labels or augmentation, and one that plateaus at the learning rate,
regularisation or the data pipeline.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stackml.training.doctor.findings import Finding

if TYPE_CHECKING:
    import torch

__all__ = ["ADVICE", "classify_curve", "overfit_one_batch"]

ADVICE = {
    "converged": "",
    "goes_up": "The error goes up: look for a flipped sign in the loss or the gradient "
    "(a loss that is maximised, a negated term, an optimizer with maximize=True).",
    "explodes": "The error explodes: a numerical problem (log or division of zero, exp "
    "overflow) or a learning rate that is far too high; lower it by 10x and check for NaN.",
    "oscillates": "The error oscillates: lower the learning rate, then inspect the data for "
    "shuffled or noisy labels and augmentation that changes the label's meaning.",
    "plateaus": "The error plateaus: raise the learning rate and remove regularisation, then "
    "check the loss function and the data pipeline (are inputs and labels what you think?).",
}


def classify_curve(losses: list[float], *, target: float) -> str:
    """Name the shape of a loss curve: ``converged``, ``explodes``, ``goes_up``,
    ``oscillates`` or ``plateaus``."""
    first = losses[0]
    finite = [v for v in losses if math.isfinite(v)]
    if len(finite) < len(losses) or max(finite) > 1000 * max(abs(first), 1e-8):
        return "explodes"
    last = losses[-1]
    if last <= target or last <= 0.02 * abs(first):
        return "converged"
    tail = losses[len(losses) // 2 :]
    tail_mean = sum(tail) / len(tail)
    # A loss that should be >= 0 running far below zero is the same sign flip seen from the
    # other side: the optimizer is maximising the error.
    if tail_mean > first * 1.05 or (first >= 0 and last < -abs(first)):
        return "goes_up"
    diffs = [b - a for a, b in itertools.pairwise(tail)]
    ups = sum(1 for d in diffs if d > 0)
    spread = (max(tail) - min(tail)) / max(abs(tail_mean), 1e-8)
    if diffs and ups / len(diffs) > 0.3 and spread > 0.05:
        return "oscillates"
    return "plateaus"


def overfit_one_batch(
    model: torch.nn.Module,
    batch: tuple[Any, Any] | Callable[[int], tuple[Any, Any]],
    loss_fn: Callable[[Any, Any], torch.Tensor],
    *,
    steps: int = 200,
    lr: float = 1e-2,
    optimizer: torch.optim.Optimizer | None = None,
    target: float = 0.05,
    copy_model: bool = True,
) -> Finding:
    """Train on one batch and judge whether the loss goes to (near) zero.

    Args:
        model: The model; a copy is trained unless ``copy_model`` is false.
        batch: ``(inputs, targets)``, or ``f(step) -> (inputs, targets)`` to include the
            data pipeline (augmentation) in the test.
        loss_fn: The training loss.
        steps: Optimisation steps.
        lr: Learning rate of the default optimizer (Adam); higher than a training default
            because one batch should be memorised in a few hundred steps.
        optimizer: Use this optimizer (it must hold ``model``'s parameters, so pass
            ``copy_model=False`` with it).
        target: A final loss at or below this counts as converged.

    Returns:
        A finding whose ``details`` hold the verdict (``curve``) and the losses.
    """
    import torch

    if optimizer is not None:
        copy_model = False
    net = copy.deepcopy(model) if copy_model else model
    net.train()
    opt = optimizer or torch.optim.Adam(net.parameters(), lr=lr)
    losses: list[float] = []
    for step in range(steps):
        x, y = batch(step) if callable(batch) else batch
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        value = float(loss.detach())
        losses.append(value)
        if not math.isfinite(value):
            break
        loss.backward()
        opt.step()
    curve = classify_curve(losses, target=target)
    ok = curve == "converged"
    first, last = losses[0], losses[-1]
    message = f"loss went from {first:.4g} to {last:.4g} in {len(losses)} steps" + (
        "" if ok else f": the error {curve.replace('_', ' ')}"
    )
    shown = losses if len(losses) <= 200 else losses[:: max(1, len(losses) // 200)]
    details = {"curve": curve, "losses": [v if math.isfinite(v) else None for v in shown]}
    return Finding("overfit_one_batch", ok, message, ADVICE[curve], details)
