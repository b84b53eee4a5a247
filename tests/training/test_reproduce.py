"""``reproduce``: re-run a run from its recorded commit and params, compare the metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import stackml
from stackml.errors import InvalidInput
from stackml.training.reproduce import reproduce

SCRIPT = """
import torch
from stackml.training import Tracker, seed_everything

def main(lr=0.1, steps=5):
    seed_everything(0)
    w = torch.zeros(3, requires_grad=True)
    x = torch.randn(16, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    with Tracker(project="repro", params={"lr": lr, "steps": steps},
                 entrypoint=__file__ + ":main", system_every_s=None) as tracker:
        for _ in range(steps):
            loss = ((x @ w - y) ** 2).mean() * SCALE
            loss.backward()
            with torch.no_grad():
                w -= lr * w.grad
                w.grad.zero_()
            tracker.log_step(loss)
    print(tracker.run_id)
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_reproduce_checks_out_the_commit_and_compares(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("SCALE = 1.0\n" + SCRIPT)
    _git(repo, "init", "-q")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "first")
    store = str(tmp_path / "store")
    env = {**os.environ, "STACKML_TRACKING_URI": store}
    done = subprocess.run(
        [sys.executable, "-c", "import train; train.main(lr=0.05, steps=4)"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = done.stdout.strip().splitlines()[-1]
    original = stackml.get_run(run_id, tracking_uri=store)
    assert original.params == {"lr": "0.05", "steps": "4"}
    # The code changes after the run: reproducing must use the recorded commit.
    (repo / "train.py").write_text("SCALE = 3.0\n" + SCRIPT)

    report = reproduce(run_id, tracking_uri=store)
    assert report.checked_out and report.returncode == 0, report.output
    assert report.ok, (report.comparisons, report.warnings, report.output)
    assert [c.key for c in report.comparisons] == ["train/loss"]
    again = stackml.get_run(report.reproduced_id, tracking_uri=store)  # type: ignore[arg-type]
    assert again.tags["stackml.reproduces"] == run_id
    assert again.params == original.params

    current = reproduce(run_id, tracking_uri=store, use_commit=False)
    assert not current.checked_out and current.warnings
    assert not current.ok  # the current code scales the loss: the metrics disagree


def test_reproduce_needs_an_entry_point(tmp_path: Path) -> None:
    with stackml.start_run(project="repro", capture_environment=False) as run:
        run.log_metrics({"acc": 1.0})
    with pytest.raises(InvalidInput, match="entry point"):
        reproduce(run.id)
    with pytest.raises(InvalidInput):
        reproduce(run.id, tolerance=-1)
