"""The run page shows doctor findings, the bias-variance report, baseline deltas and
checkpoints of a training run."""

from __future__ import annotations

from pathlib import Path

import httpx
import torch
from torch import nn

import stackml
from stackml.server import create_app
from stackml.training import Checkpointer, CheckpointPolicy, doctor
from tests.server.conftest import LiveServer


def test_run_page_shows_the_training_panel(tmp_path: Path) -> None:
    root = str(tmp_path / "store")
    store = stackml.tracking.get_store(root)
    store.metadata.set_baseline("digits", "human", kind="human", metrics={"acc": 0.9})
    model = nn.Linear(4, 3)
    batch = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
    with stackml.start_run(project="digits", tracking_uri=root, capture_environment=False) as run:
        run.log_metrics({"acc": 0.95})
        doctor.examine(model, batch, nn.CrossEntropyLoss(), overfit=False).log_to(run)
        report = doctor.bias_variance_report(train=0.01, val=0.08, test=0.09)
        run.log_dict(report.to_dict(), "doctor/bias_variance.json")
        ck = Checkpointer(tmp_path / "ck", CheckpointPolicy(metric="acc", mode="max"), run=run)
        ck.save(step=7, model=model, metrics={"acc": 0.95})
    stackml.flush()
    server = LiveServer(create_app(store)).start()
    try:
        html = httpx.get(f"{server.url}/runs/{run.id}", timeout=30).text
    finally:
        server.stop()
    assert 'id="training-panel"' in html
    assert "Training doctor" in html and "broadcasting" in html
    assert "Bias-variance" in html and "add more training data" in html
    assert "+0.0500" in html  # 0.95 against the human baseline's 0.9
    assert "step-000000007" in html and "best" in html
