"""Training: PyTorch integration and distributed (DDP) launch."""

from __future__ import annotations

from stackml.training.checkpoint import (
    Checkpointer,
    CheckpointPolicy,
    load_checkpoint,
    save_checkpoint,
)
from stackml.training.launch import LaunchError, LaunchResult, launch, log_metrics
from stackml.training.seeding import rng_state, seed_everything, set_rng_state
from stackml.training.tracker import Tracker, grad_norm
from stackml.training.trainer import EarlyStopping, FitResult, Trainer, accuracy

__all__ = [
    "CheckpointPolicy",
    "Checkpointer",
    "EarlyStopping",
    "FitResult",
    "LaunchError",
    "LaunchResult",
    "Tracker",
    "Trainer",
    "accuracy",
    "grad_norm",
    "launch",
    "load_checkpoint",
    "log_metrics",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]
