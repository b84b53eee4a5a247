"""On a machine with CUDA GPUs: nccl launch, and GPU jobs seeing only their devices."""

from __future__ import annotations

import sys

import pytest

from stackml.compute import JobWorker, WorkerSettings, iter_logs, make_spec
from stackml.store import Store
from tests.compute.targets import nccl_steps

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def test_nccl_launch_one_rank_per_gpu() -> None:
    from stackml.training import launch

    nprocs = torch.cuda.device_count()  # nccl wants one GPU per rank
    result = launch(nccl_steps, nprocs=nprocs, backend="nccl", args=(5,))
    assert [r["backend"] for r in result.results] == ["nccl"] * nprocs
    assert [r["device"] for r in result.results] == list(range(nprocs))


def test_gpu_job_sees_only_its_device(store: Store) -> None:
    code = "import torch; print(torch.cuda.device_count())"
    gpu = store.metadata.submit_job(make_spec([sys.executable, "-c", code], gpus=1))
    cpu = store.metadata.submit_job(make_spec([sys.executable, "-c", code]))
    JobWorker(store, cpus=2, gpus=["0"], settings=WorkerSettings(poll_s=0.05)).run(until_idle=True)
    assert "".join(iter_logs(store, gpu.id)) == "1\n"
    assert "".join(iter_logs(store, cpu.id)) == "0\n"
