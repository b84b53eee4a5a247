"""A seeded training run with dropout and shuffling, used by the exact-resume test.

Usage: ``python resume_script.py CKPT_DIR LOSS_FILE SLEEP_S [resume]``. Every step's loss is
appended to LOSS_FILE as ``step float.hex`` and fsynced, so a killed run leaves what it did.
"""

from __future__ import annotations

import os
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stackml.training import CheckpointPolicy, Tracker, Trainer, seed_everything


def main() -> None:
    ckpt_dir, loss_file, sleep_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    resume = len(sys.argv) > 4
    seed_everything(7)
    data = torch.randn(96, 6)
    target = (data.sum(dim=1) > 0).long()
    generator = torch.Generator().manual_seed(11)
    loader = DataLoader(
        TensorDataset(data, target), batch_size=16, shuffle=True, generator=generator
    )
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    out = open(loss_file, "a")  # noqa: SIM115 - kept open for the whole run

    def loss_fn(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = nn.functional.cross_entropy(pred, y)
        return loss

    class Logged(Tracker):
        def log_step(self, loss=None, **kw):  # type: ignore[no-untyped-def]
            super().log_step(loss, **kw)
            out.write(f"{kw['step']} {float(loss).hex()}\n")
            out.flush()
            os.fsync(out.fileno())
            time.sleep(sleep_s)

    with Logged(project="resume", system_every_s=None) as tracker:
        sched = None
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.9)
        trainer = Trainer(
            model,
            optimizer=optimizer,
            scheduler=sched,
            max_epochs=4,
            tracker=tracker,
            checkpoint_dir=ckpt_dir,
            checkpoint_policy=CheckpointPolicy(every_n_steps=4, keep_last=2),
        )
        trainer.fit(loader, resume_from="latest" if resume else None)


if __name__ == "__main__":
    main()
