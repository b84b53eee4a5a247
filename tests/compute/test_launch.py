"""``stackml.training.launch``: real DDP with gloo on CPU, 2 processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import stackml
from stackml.training import LaunchError, launch
from stackml.training.digits_ddp import train_digits
from tests.compute.targets import rank_one_fails

pytestmark = pytest.mark.slow


def _children() -> list[int]:
    """Live (non-zombie) child processes of this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) != os.getpid() or fields[0] == "Z":
            continue
        # multiprocessing's resource tracker is one helper per interpreter, not a rank.
        if b"resource_tracker" not in (entry / "cmdline").read_bytes():
            found.append(int(entry.name))
    return found


def test_ddp_keeps_ranks_identical_and_matches_one_process(_isolated_env: Path) -> None:
    result = launch(
        train_digits, nprocs=2, backend="gloo", args=(2,), project="ddp", run_name="two"
    )
    rank0, rank1 = result.results
    assert (rank0["rank"], rank1["rank"]) == (0.0, 1.0)
    # Every step ended with bit-identical parameters on both ranks.
    assert rank0["max_param_diff"] == 0.0 and rank1["max_param_diff"] == 0.0
    assert rank0["test_accuracy"] == rank1["test_accuracy"]
    import torch

    threads = torch.get_num_threads()
    try:
        single = train_digits(2)  # the same training in this process, without DDP
    finally:
        torch.set_num_threads(threads)
    assert abs(rank0["test_accuracy"] - single["test_accuracy"]) < 0.02
    assert rank0["test_accuracy"] > 0.85
    # One run for the launch: rank 0's metrics, and both ranks' logs as artifacts.
    assert result.run_id is not None
    run = stackml.get_run(result.run_id)
    assert run.status.value == "completed" and run.params["nprocs"] == "2"
    assert run.metrics["test_accuracy"].latest == pytest.approx(rank0["test_accuracy"])
    assert run.metrics["train_loss"].count == 2  # once per epoch, from rank 0 only
    store = stackml.tracking.get_store()
    paths = [a.path for a in store.metadata.list_artifacts(result.run_id, "logs")]
    assert paths == ["logs/rank0.log", "logs/rank1.log"]
    assert _children() == []


def test_one_failing_rank_fails_the_launch_cleanly(_isolated_env: Path) -> None:
    with pytest.raises(LaunchError, match="rank 1 failed first with RuntimeError: rank 1 gives up"):
        launch(rank_one_fails, nprocs=2, project="ddp-fail")
    failed = stackml.search_runs(project="ddp-fail")
    assert [r.status.value for r in failed] == ["failed"]
    assert _children() == []


def test_bad_arguments() -> None:
    with pytest.raises(stackml.InvalidInput):
        launch(train_digits, nprocs=0)
    with pytest.raises(stackml.InvalidInput):
        launch(train_digits, nprocs=2, backend="mpi")
