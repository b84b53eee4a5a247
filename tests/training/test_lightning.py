"""The Lightning logger adapter (skipped unless the optional ``lightning`` extra is installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("lightning")


# Lightning's own warnings about this torch version and the tiny loader are not ours.
@pytest.mark.filterwarnings(
    "ignore::FutureWarning", "ignore::UserWarning", "ignore::DeprecationWarning"
)
def test_lightning_logger_records_a_run() -> None:
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    import stackml
    from stackml.training.lightning import StackmlLogger

    class Module(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)
            self.save_hyperparameters({"lr": 0.1})

        def training_step(self, batch, _):  # type: ignore[no-untyped-def]
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.layer(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = DataLoader(TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,))), batch_size=8)
    logger = StackmlLogger(project="lit")
    Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(Module(), data)
    run = stackml.get_run(logger.version)
    assert run.params["lr"] == "0.1" and "loss" in run.metrics
    assert run.status.value == "completed"
