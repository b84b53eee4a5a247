"""Knowledge distillation: train a smaller student on a teacher's soft targets.

The loss is Hinton et al.'s: ``alpha * T**2 * KL(softmax(teacher/T) || softmax(student/T))
+ (1 - alpha) * cross_entropy(student, labels)``. The teacher runs once over the training
rows (a ``torch.nn.Module`` or any :class:`~stackml.registry.runtime.Predictor`, e.g. the
registered ONNX model); the student is trained by :class:`stackml.training.Trainer`, so
tracking, early stopping and checkpoints work as for any training run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.runtime import Predictor

if TYPE_CHECKING:
    from stackml.training.tracker import Tracker

__all__ = ["DistillResult", "distill", "teacher_logits"]


@dataclass
class DistillResult:
    """The trained student and the per-epoch validation metrics."""

    student: Any
    history: list[dict[str, float]] = field(default_factory=list)


def teacher_logits(teacher: Any, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """The teacher's logits on ``x`` (log-probabilities when it only gives probabilities)."""
    import torch

    chunks = []
    for start in range(0, len(x), batch_size):
        batch = np.asarray(x[start : start + batch_size], dtype=np.float32)
        if isinstance(teacher, Predictor):
            out = teacher.predict(batch)
            if "logits" in out:
                chunks.append(np.asarray(out["logits"], dtype=np.float32))
            elif teacher.signature.probabilities in out:
                probs = np.asarray(out[teacher.signature.probabilities], dtype=np.float32)
                chunks.append(np.log(np.clip(probs, 1e-7, 1.0)))
            else:
                raise InvalidInput("the teacher gives neither logits nor probabilities")
        else:
            teacher.eval()
            with torch.inference_mode():
                chunks.append(teacher(torch.from_numpy(batch)).float().numpy())
    return np.concatenate(chunks)


def _loss(temperature: float, alpha: float) -> Any:
    import torch.nn.functional as F

    def loss(student_logits: Any, target: Any) -> Any:
        labels, soft = target[:, 0].long(), target[:, 1:]
        kd = F.kl_div(
            F.log_softmax(student_logits / temperature, dim=-1),
            F.log_softmax(soft / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
        return alpha * temperature**2 * kd + (1 - alpha) * F.cross_entropy(student_logits, labels)

    return loss


def _student_accuracy(logits: Any, target: Any) -> float:
    return float((logits.argmax(dim=-1) == target[:, 0].long()).float().mean())


def distill(
    teacher: Any,
    student: Any,
    data: tuple[np.ndarray, np.ndarray],
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    temperature: float = 4.0,
    alpha: float = 0.7,
    epochs: int = 20,
    lr: float = 3e-3,
    batch_size: int = 64,
    tracker: Tracker | None = None,
    seed: int = 0,
) -> DistillResult:
    """Train ``student`` (a ``torch.nn.Module``) on ``teacher``'s soft targets.

    Args:
        teacher: A ``torch.nn.Module`` or a :class:`Predictor` giving ``logits``.
        student: The smaller model, trained in place.
        data: Training inputs and integer labels.
        val: Validation inputs and labels (metrics ``val/accuracy``, ``val/loss``).
        temperature: Softening of both distributions (``T``).
        alpha: Weight of the distillation term against the label term.
        epochs / lr / batch_size: Training schedule (Adam with a one-cycle rate).
        tracker: Logs the student's training like any run.
        seed: Seed of the shuffling.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from stackml.training import Trainer

    if not 0.0 <= alpha <= 1.0 or temperature <= 0:
        raise InvalidInput("alpha must lie in [0, 1] and temperature be positive")
    x, y = np.asarray(data[0], dtype=np.float32), np.asarray(data[1])
    if len(x) != len(y) or len(x) == 0:
        raise InvalidInput("data must be non-empty (inputs, labels) of the same length")

    def encoded(inputs: np.ndarray, labels: np.ndarray) -> TensorDataset:
        soft = teacher_logits(teacher, inputs)
        target = np.concatenate([labels.reshape(-1, 1).astype(np.float32), soft], axis=1)
        return TensorDataset(torch.from_numpy(inputs), torch.from_numpy(target))

    loader = DataLoader(
        encoded(x, y),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    val_loader = None
    if val is not None:
        val_x = np.asarray(val[0], dtype=np.float32)
        val_loader = DataLoader(encoded(val_x, np.asarray(val[1])), batch_size=512)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * len(loader)
    )
    trainer = Trainer(
        student,
        loss_fn=_loss(temperature, alpha),
        optimizer=optimizer,
        scheduler=schedule,
        metrics={"accuracy": _student_accuracy},
        max_epochs=epochs,
        tracker=tracker,
        device="cpu",
    )
    result = trainer.fit(loader, val_loader)
    student.eval()
    return DistillResult(student, result.history)
