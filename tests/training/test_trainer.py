"""Tracker and Trainer on a small model: what gets logged, early stopping, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import stackml
from stackml.errors import InvalidInput, NotFound
from stackml.training import (
    CheckpointPolicy,
    EarlyStopping,
    Tracker,
    Trainer,
    load_checkpoint,
    rng_state,
    seed_everything,
    set_rng_state,
)
from stackml.training.tracker import ENTRYPOINT_TAG


def _data(n: int = 128) -> tuple[DataLoader, DataLoader]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long()
    train = DataLoader(
        TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(1)
    )
    return train, DataLoader(TensorDataset(x, y), batch_size=64)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_tracker_logs_a_plain_loop() -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train, _ = _data()
    with Tracker(
        project="t",
        params={"lr": 0.1},
        entrypoint="train.py:main",
        grad_norms=True,
        system_every_s=0.0,
    ) as tracker:
        for x, y in train:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            tracker.log_step(
                loss, batch_size=len(x), optimizer=opt, model=model, metrics={"extra": 1.0}
            )
            opt.step()
    run = stackml.get_run(tracker.run_id)
    assert run.status.value == "completed" and run.params["lr"] == "0.1"
    assert run.tags[ENTRYPOINT_TAG] == str(Path("train.py").resolve()) + ":main"
    for key in (
        "train/loss",
        "train/lr",
        "train/grad_norm",
        "train/samples_per_s",
        "train/extra",
        "system/cpu_percent",
        "system/rss_mb",
    ):
        assert key in run.metrics, key
    steps = [s for s, _, _ in stackml.metric_history(run.id, "train/loss")]
    assert steps == [1, 2, 3, 4]
    assert run.metrics["train/samples_per_s"].latest > 0
    with pytest.raises(ValueError):
        Tracker(log_every=0)


def test_trainer_fits_evaluates_and_predicts(tmp_path: Path) -> None:
    train, val = _data()
    with Tracker(project="t", system_every_s=None) as tracker:
        trainer = Trainer(
            _model(),
            lr=1e-2,
            max_epochs=5,
            tracker=tracker,
            checkpoint_dir=tmp_path / "ck",
            checkpoint_policy=CheckpointPolicy(metric="val/accuracy", mode="max", keep_last=1),
        )
        assert trainer.device.type == "cpu" and not trainer.amp
        assert trainer.optimizer.defaults["lr"] == 1e-2
        result = trainer.fit(train, val)
    assert result.steps == 20 and result.epochs == 5 and len(result.history) == 5
    metrics = trainer.evaluate(val)
    assert metrics["accuracy"] > 0.8 and set(metrics) == {"loss", "accuracy"}
    assert trainer.predict(torch.randn(3, 8)).shape == (3, 2)
    assert trainer.predict(val).shape == (128, 2)
    run = stackml.get_run(tracker.run_id)
    assert "val/accuracy" in run.metrics and "epoch" in run.metrics
    store = stackml.tracking.get_store()
    paths = {a.path for a in store.metadata.list_artifacts(run.id, "checkpoints")}
    assert "checkpoints/index.json" in paths
    assert "checkpoints/last-0/model.safetensors" in paths
    assert "checkpoints/best/state.pt" in paths
    kept = trainer.checkpointer.checkpoints()  # type: ignore[union-attr]
    best = trainer.checkpointer.best()  # type: ignore[union-attr]
    assert best is not None and kept[-1].name == "step-000000020"
    assert len(kept) <= 2  # the last one and the best one
    fresh = _model()
    loaded = load_checkpoint(best, model=fresh, restore_rng=False)
    assert loaded["metrics"]["val/accuracy"] == trainer.checkpointer.best_value  # type: ignore[union-attr]


def test_early_stopping_stops() -> None:
    train, val = _data()
    stop = EarlyStopping(metric="val/loss", patience=1, min_delta=10.0)
    result = Trainer(_model(), max_epochs=10, early_stopping=stop).fit(train, val)
    assert result.stopped_early and result.epochs == 2
    with pytest.raises(InvalidInput, match="watches"):
        Trainer(_model(), early_stopping=EarlyStopping(metric="nope")).fit(train, val)


def test_bad_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        Trainer(_model(), amp=True, device="cpu")
    with pytest.raises(InvalidInput):
        CheckpointPolicy(keep_last=0)
    with pytest.raises(InvalidInput):
        Trainer(_model()).fit(_data()[0], resume_from="latest")
    with pytest.raises(NotFound):
        load_checkpoint(tmp_path, model=_model())
    with pytest.raises(InvalidInput):
        Trainer(_model()).evaluate([])


def test_rng_state_round_trips() -> None:
    import random

    import numpy as np

    seed_everything(3, deterministic=False)
    state = rng_state()
    first = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    set_rng_state(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == first
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_checkpointer_keeps_best_and_survives_nan(tmp_path: Path) -> None:
    from stackml.training import Checkpointer

    model = _model()
    policy = CheckpointPolicy(every_n_steps=2, keep_last=1, metric="val/loss", mode="min")
    with stackml.start_run(project="t", capture_environment=False) as run:
        ck = Checkpointer(tmp_path / "ck", policy, run=run)
        assert ck.due(4) and not ck.due(3)
        ck.save(step=1, model=model, metrics={"val/loss": 0.5})
        ck.save(step=2, model=model, metrics={"val/loss": float("nan")})
        ck.save(step=3, model=model, metrics={"val/loss": 0.7})
    assert [p.name for p in ck.checkpoints()] == ["step-000000001", "step-000000003"]
    assert ck.best() == tmp_path / "ck" / "step-000000001" and ck.best_value == 0.5
    assert ck.latest() == tmp_path / "ck" / "step-000000003"
    again = Checkpointer(tmp_path / "ck", policy)  # a resumed process reads the index back
    assert again.best_value == 0.5
    (tmp_path / "ck" / ".tmp-partial").mkdir()  # what a killed writer leaves
    again.save(step=4, model=model)
    assert not (tmp_path / "ck" / ".tmp-partial").exists()
