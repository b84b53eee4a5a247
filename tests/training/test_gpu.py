"""Training on a CUDA GPU: mixed precision, device placement and tracking (skipped without one)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_trainer_uses_mixed_precision_on_cuda_and_learns_the_digits() -> None:
    from sklearn.datasets import load_digits
    from torch.utils.data import DataLoader, TensorDataset

    import stackml
    from stackml.quickstart.stages.cnn import digits_cnn
    from stackml.training import Tracker, Trainer, seed_everything

    seed_everything(0)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(digits.target)
    train = DataLoader(TensorDataset(x[:1400], y[:1400]), batch_size=64, shuffle=True)
    test = DataLoader(TensorDataset(x[1400:], y[1400:]), batch_size=256)
    with Tracker(project="gpu", params={"device": "cuda"}) as tracker:
        trainer = Trainer(digits_cnn(), lr=3e-3, max_epochs=8, tracker=tracker)
        assert trainer.device.type == "cuda" and trainer.amp
        assert next(trainer.model.parameters()).is_cuda
        trainer.fit(train)
        scores = trainer.evaluate(test)
        run_id = tracker.run.id
    assert scores["accuracy"] > 0.9
    stackml.flush()
    assert stackml.get_run(run_id).metrics  # the loop's metrics reached the store
