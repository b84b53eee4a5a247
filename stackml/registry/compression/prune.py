"""Magnitude pruning with ``torch.nn.utils.prune``, optionally fine-tuned, made permanent."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackml.errors import InvalidInput

__all__ = ["PruneResult", "prune", "sparsity"]


@dataclass(frozen=True)
class PruneResult:
    """The pruned model and the share of zero weights among the pruned layers."""

    model: Any
    sparsity: float
    amount: float


def _prunable(model: Any) -> list[tuple[Any, str]]:
    from torch import nn

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    return [(m, "weight") for m in model.modules() if isinstance(m, kinds)]


def sparsity(model: Any) -> float:
    """Share of exactly-zero weights over the model's linear and convolution layers."""
    zeros = total = 0
    for module, name in _prunable(model):
        weight = getattr(module, name)
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return zeros / total if total else 0.0


def prune(
    model: Any,
    amount: float,
    *,
    fine_tune: Callable[[Any], Any] | None = None,
    global_: bool = True,
) -> PruneResult:
    """Zero the ``amount`` share of smallest-magnitude weights of a copy of ``model``.

    Linear and convolution weights are pruned together (global L1 magnitude) or layer by
    layer (``global_=False``). ``fine_tune(model)`` runs with the masks still applied, so
    pruned weights stay zero while the others recover the accuracy; then the masks are
    folded into the weights (``prune.remove``), so the saved model is an ordinary one.

    Returns:
        The pruned copy and its measured sparsity.
    """
    from torch.nn.utils import prune as torch_prune

    if not 0.0 < float(amount) < 1.0:
        raise InvalidInput(f"the pruning amount must be between 0 and 1, not {amount!r}")
    pruned = copy.deepcopy(model)
    params = _prunable(pruned)
    if not params:
        raise InvalidInput("the model has no Linear or Conv layers to prune")
    if global_:
        torch_prune.global_unstructured(
            params, pruning_method=torch_prune.L1Unstructured, amount=float(amount)
        )
    else:
        for module, name in params:
            torch_prune.l1_unstructured(module, name, amount=float(amount))
    if fine_tune is not None:
        pruned.train()
        fine_tune(pruned)
    for module, name in params:
        torch_prune.remove(module, name)
    pruned.eval()
    return PruneResult(pruned, sparsity(pruned), float(amount))
