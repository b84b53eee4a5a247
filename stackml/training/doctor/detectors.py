"""Detectors for the most common deep-learning bugs, each run on one batch.

- :func:`check_broadcasting`: an ``(N, 1)`` target against an ``(N,)`` prediction (or the
  reverse) that the loss silently broadcasts to ``(N, N)``;
- :func:`check_input_scale`: inputs that were never normalised;
- :func:`check_loss_input`: probabilities (a softmax) fed to a loss that expects logits;
- :func:`check_eval_mode`: dropout or batch norm still acting as in training during evaluation;
- :func:`find_nonfinite`: the first module whose output holds NaN or Inf.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stackml.training.doctor.findings import Finding

if TYPE_CHECKING:
    import torch

__all__ = [
    "check_broadcasting",
    "check_eval_mode",
    "check_input_scale",
    "check_loss_input",
    "find_nonfinite",
]

LossFn = Callable[[Any, Any], "torch.Tensor"]


def check_broadcasting(output: torch.Tensor, target: torch.Tensor) -> Finding:
    """Flag a prediction and target with the same number of values but different shapes
    that broadcast to a bigger tensor (the loss then averages N*N pairs, not N)."""
    import torch

    out_shape, tgt_shape = tuple(output.shape), tuple(target.shape)
    details = {"output_shape": list(out_shape), "target_shape": list(tgt_shape)}
    if out_shape != tgt_shape and output.numel() == target.numel():
        try:
            joint = torch.broadcast_shapes(output.shape, target.shape)
        except RuntimeError:
            joint = None
        if joint is not None and tuple(joint) != out_shape:
            return Finding(
                "broadcasting",
                False,
                f"prediction {out_shape} and target {tgt_shape} broadcast to {tuple(joint)}: "
                "the loss compares every prediction with every target",
                "Make the shapes equal before the loss, e.g. target.view_as(prediction) or "
                "prediction.squeeze(-1).",
                details,
            )
    return Finding("broadcasting", True, f"prediction {out_shape}, target {tgt_shape}", "", details)


def _reference_stats(stats: Any) -> tuple[float, float] | None:
    """Overall (mean, std) from a dataset schema, a ``{"mean", "std"}`` mapping or None."""
    if stats is None:
        return None
    if isinstance(stats, Mapping):
        return float(stats["mean"]), float(stats["std"])
    images = getattr(stats, "images", None)
    if images is not None:
        means, stds = images.channel_mean, images.channel_std
        return sum(means) / len(means), sum(stds) / len(stds)
    columns = [c.stats for c in getattr(stats, "columns", ()) if c.stats and c.stats.std]
    if columns:
        return (
            sum(s.mean for s in columns) / len(columns),
            sum(s.std for s in columns) / len(columns),
        )
    return None


def check_input_scale(inputs: torch.Tensor, stats: Any = None) -> Finding:
    """Flag inputs that look unnormalised.

    Args:
        inputs: One batch as the model receives it.
        stats: The dataset's raw statistics: a ``stackml.data`` schema (column or image
            statistics) or a mapping with ``mean`` and ``std``. When the batch still has the
            raw scale of the dataset and that scale is far from mean 0 / std 1, it was not
            normalised. Without it, features with a mean or spread above 3 are flagged.
    """
    flat = inputs.detach().float().reshape(len(inputs), -1)
    mean = float(flat.mean())
    std = float(flat.std()) if flat.numel() > 1 else 0.0
    feature_mean = flat.mean(dim=0).abs().max().item()
    feature_std = flat.std(dim=0).max().item() if len(flat) > 1 else 0.0
    details = {"batch_mean": mean, "batch_std": std}
    ref = _reference_stats(stats)
    advice = "Normalise: subtract the training mean and divide by the training standard deviation."
    if ref is not None:
        ref_mean, ref_std = ref
        details.update(dataset_mean=ref_mean, dataset_std=ref_std)
        raw_scale = abs(ref_mean) > 1.0 or ref_std > 2.0 or ref_std < 0.05
        same_as_raw = abs(mean - ref_mean) <= 0.25 * max(ref_std, 1e-8) + 1e-6
        if raw_scale and same_as_raw:
            return Finding(
                "input_scale",
                False,
                f"inputs have the dataset's raw scale (mean {mean:.3g}, std {std:.3g}; "
                f"dataset mean {ref_mean:.3g}, std {ref_std:.3g})",
                advice,
                details,
            )
    if feature_mean > 3.0 or feature_std > 3.0:
        return Finding(
            "input_scale",
            False,
            f"inputs look unnormalised (largest feature mean {feature_mean:.3g}, "
            f"largest feature std {feature_std:.3g})",
            advice,
            details,
        )
    return Finding("input_scale", True, f"inputs: mean {mean:.3g}, std {std:.3g}", "", details)


def _expects_logits(loss_fn: Any) -> bool:
    import torch

    if isinstance(loss_fn, (torch.nn.CrossEntropyLoss, torch.nn.BCEWithLogitsLoss)):
        return True
    name = getattr(loss_fn, "__name__", "")
    return name in ("cross_entropy", "binary_cross_entropy_with_logits")


def check_loss_input(output: torch.Tensor, loss_fn: Any, model: Any = None) -> Finding:
    """Flag probabilities fed to a loss that applies its own (log-)softmax or sigmoid."""
    import torch

    details: dict[str, Any] = {"loss": type(loss_fn).__name__}
    if not _expects_logits(loss_fn):
        return Finding("loss_input", True, "the loss does not expect logits", "", details)
    out = output.detach().float()
    in_unit = bool(((out >= 0) & (out <= 1)).all())
    rows_sum_to_one = out.dim() >= 2 and bool(
        torch.allclose(out.sum(dim=-1), torch.ones(out.shape[:-1]), atol=1e-4)
    )
    ends_in_softmax = False
    if model is not None:
        modules = list(model.modules())
        last = modules[-1] if modules else None
        ends_in_softmax = isinstance(last, (torch.nn.Softmax, torch.nn.Sigmoid))
    # One column of values in [0, 1] may well be logits; rows that sum to 1 are not.
    if ends_in_softmax or (in_unit and rows_sum_to_one):
        return Finding(
            "loss_input",
            False,
            f"{details['loss']} expects raw logits but receives probabilities "
            f"(outputs in [0, 1]{', rows sum to 1' if rows_sum_to_one else ''})",
            "Remove the final softmax/sigmoid from the model: the loss applies it itself, "
            "and applying it twice flattens the gradients.",
            details,
        )
    return Finding("loss_input", True, f"{details['loss']} receives logits", "", details)


def check_eval_mode(model: torch.nn.Module, inputs: torch.Tensor) -> Finding:
    """Flag a model whose evaluation is random (dropout left on) or depends on the rest of
    the batch (batch norm using batch statistics) after ``model.eval()``."""
    import torch

    was_training = model.training
    model.eval()
    try:
        still_training = [name for name, m in model.named_modules() if m.training]
        half = max(len(inputs) // 2, 1)
        with torch.no_grad():
            first = model(inputs)
            second = model(inputs)
            # In eval mode a sample's output must not depend on which batch it is in;
            # half a batch (not one sample) keeps batch norm on batch statistics runnable.
            part = model(inputs[:half]) if len(inputs) > 1 else first
    finally:
        model.train(was_training)
    random = not torch.allclose(first, second, atol=1e-6)
    batch_dependent = not torch.allclose(first[:half], part[:half], atol=1e-5)
    details = {"modules_in_training_mode": still_training}
    if random or batch_dependent or still_training:
        what = []
        if random:
            what.append("two evaluations of the same batch differ (dropout still active?)")
        if batch_dependent:
            what.append(
                "a sample's output depends on the rest of the batch (batch norm "
                "using batch statistics?)"
            )
        if still_training:
            what.append(f"modules still in training mode: {', '.join(still_training[:5])}")
        return Finding(
            "eval_mode",
            False,
            "; ".join(what),
            "Call model.eval() before evaluating and model.train() after; pass "
            "training=self.training to functional dropout; keep track_running_stats on.",
            details,
        )
    return Finding("eval_mode", True, "evaluation is deterministic and per-sample", "", details)


def find_nonfinite(model: torch.nn.Module, inputs: torch.Tensor) -> Finding:
    """Run one forward pass with hooks and name the first module whose output holds NaN or Inf."""
    import torch

    first: list[tuple[str, str]] = []
    handles = []

    def hook(name: str) -> Callable[..., None]:
        def check(module: Any, args: Any, output: Any) -> None:
            if first:
                return
            tensors = output if isinstance(output, (tuple, list)) else (output,)
            for t in tensors:
                floating = isinstance(t, torch.Tensor) and t.is_floating_point()
                if floating and not bool(torch.isfinite(t).all()):
                    kind = "NaN" if bool(torch.isnan(t).any()) else "Inf"
                    first.append((name or type(module).__name__, kind))
                    return

        return check

    for name, module in model.named_modules():
        if name:  # the root's output is its last child's: the child is the better answer
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            if not bool(torch.isfinite(inputs).all()):
                return Finding(
                    "nonfinite",
                    False,
                    "the inputs already hold NaN or Inf",
                    "Clean the data: look for missing values and divisions by zero in the "
                    "preprocessing.",
                    {"module": None},
                )
            out = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not first and isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
        first.append(("<model>", "NaN" if bool(torch.isnan(out).any()) else "Inf"))
    if first:
        name, kind = first[0]
        return Finding(
            "nonfinite",
            False,
            f"module {name!r} is the first to produce {kind}",
            "Guard the numerics there: clamp before log/sqrt, add an epsilon to divisions, "
            "use log-softmax instead of log(softmax), or lower the learning rate.",
            {"module": name, "kind": kind},
        )
    return Finding("nonfinite", True, "no module produced NaN or Inf", "", {"module": None})
