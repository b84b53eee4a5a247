"""Callables that tests run as jobs (imported by name in the job's process)."""

from __future__ import annotations

import os
from pathlib import Path

import stackml


def tracked(project: str, value: float) -> dict[str, str]:
    """Record a run and hand its id back, which links the job to it."""
    with stackml.start_run(project=project, capture_environment=False) as run:
        run.log_metrics({"value": value}, step=0)
    stackml.flush()
    return {"run_id": run.id}


def write_env(path: str) -> None:
    """Write the job-related environment to ``path``."""
    keys = ("STACKML_JOB_ID", "CUDA_VISIBLE_DEVICES", "RANK", "WORLD_SIZE", "MASTER_ADDR")
    Path(path).write_text("\n".join(f"{k}={os.environ.get(k, '')}" for k in keys))


def fail() -> None:
    """Raise, so the job fails with a traceback in its log."""
    raise RuntimeError("this job fails on purpose")


def rank_one_fails() -> None:
    """Rank 1 raises while rank 0 waits in a collective that can never complete."""
    import torch
    import torch.distributed as dist

    if dist.get_rank() == 1:
        raise RuntimeError("rank 1 gives up")
    dist.all_reduce(torch.ones(1))  # blocks: its peer is gone


def nccl_steps(steps: int) -> dict[str, object]:
    """A few DDP steps on this rank's GPU with nccl; answers backend, world and device."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    local = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local)
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(64, 10).cuda(), device_ids=[local])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        loss = model(torch.randn(32, 64, device="cuda")).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"backend": dist.get_backend(), "world": dist.get_world_size(), "device": local}


def world_size() -> int:
    """The size of the process group this rank joined."""
    import torch.distributed as dist

    return dist.get_world_size()
