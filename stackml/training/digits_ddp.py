"""A small CNN on scikit-learn's 8x8 digits, trainable with DDP: the reference workload of
:func:`stackml.training.launch` (tests, benchmark, quickstart).

Every step takes one global batch of the same seeded permutation on every rank; rank ``r``
trains on rows ``r, r + world, ...`` of it. DDP averages the gradients, so an N-process step
makes the same update as a 1-process step on the whole batch, up to floating-point error:
accuracy with N processes matches 1 process.
"""

from __future__ import annotations

import os
import time
from typing import Any

from stackml.training.launch import log_metrics

__all__ = ["train_digits"]


def _model() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def _data(seed: int) -> tuple[Any, Any, Any, Any]:
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=seed
    )
    return x_train, x_test, y_train, y_test


def train_digits(
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 0.1,
    seed: int = 0,
    check_sync: bool = True,
) -> dict[str, float]:
    """Train the digits CNN in this process (a rank of a launch, or alone).

    Args:
        epochs: passes over the training split.
        batch_size: global batch size (split across ranks).
        lr: SGD learning rate (momentum 0.9).
        seed: seed of the split, the initial weights and the batch order.
        check_sync: after every step, gather every rank's parameters and record the largest
            difference between ranks (0 when DDP keeps them identical).

    Returns:
        JSON-ready numbers: rank, world size, steps, samples this rank trained on, seconds,
        test accuracy and the largest parameter difference seen between ranks.
    """
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(int(os.environ.get("STACKML_TORCH_THREADS", "1")))
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    x_train, x_test, y_train, y_test = _data(seed)
    torch.manual_seed(seed)
    net = _model()
    model: Any = DistributedDataParallel(net) if world > 1 else net
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    max_diff = 0.0
    steps = samples = 0
    started = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(x_train), generator=generator)
        # Whole global batches only, each split evenly: equal shards keep the DDP average
        # equal to the full-batch gradient.
        usable = (len(order) // batch_size) * batch_size
        for start in range(0, usable, batch_size):
            rows = order[start : start + batch_size][rank::world]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[rows]), y_train[rows])
            loss.backward()
            optimizer.step()
            steps += 1
            samples += len(rows)
            if check_sync and world > 1:
                flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
                gathered = [torch.empty_like(flat) for _ in range(world)]
                dist.all_gather(gathered, flat)
                diff = max(float((g - gathered[0]).abs().max()) for g in gathered)
                max_diff = max(max_diff, diff)
        log_metrics({"train_loss": float(loss.detach()), "epoch": float(epoch)}, step=steps)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        accuracy = float((net(x_test).argmax(dim=1) == y_test).float().mean())
    log_metrics({"test_accuracy": accuracy}, step=steps)
    return {
        "rank": float(rank),
        "world_size": float(world),
        "steps": float(steps),
        "samples": float(samples),
        "seconds": seconds,
        "test_accuracy": accuracy,
        "max_param_diff": max_diff,
    }
