"""Seeding and random-number-generator state: what makes a CPU training run repeatable.

:func:`seed_everything` seeds Python's ``random``, NumPy and torch; :func:`rng_state` and
:func:`set_rng_state` capture and restore all three (plus CUDA's when present) so that a
resumed run draws exactly the numbers the uninterrupted run would have drawn.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np

__all__ = ["rng_state", "seed_everything", "set_rng_state"]


def seed_everything(seed: int, *, deterministic: bool = True) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) with ``seed``.

    Args:
        seed: A non-negative integer below 2**32.
        deterministic: Also ask torch for deterministic kernels (``use_deterministic_algorithms``
            with ``warn_only``, cuDNN deterministic, no cuDNN benchmarking). Costs speed on GPU;
            on CPU nearly nothing.

    Returns:
        The seed, so ``seed = seed_everything(0)`` reads naturally.

    Raises:
        ValueError: ``seed`` is out of range.
    """
    import torch

    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), not {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this one's hash is fixed
    if deterministic:
        # cuBLAS needs this workspace setting for deterministic matmuls on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return seed


def rng_state() -> dict[str, Any]:
    """Every global generator's state: ``python``, ``numpy``, ``torch`` and ``cuda`` (if any).

    Tensors and plain Python values only, so it round-trips through
    ``torch.load(weights_only=True)``.
    """
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`rng_state`."""
    import torch

    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    npy = state["numpy"]
    keys = npy["keys"].numpy().astype(np.uint32)
    np.random.set_state((npy["kind"], keys, npy["pos"], npy["has_gauss"], npy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
