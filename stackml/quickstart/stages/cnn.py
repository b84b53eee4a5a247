"""Stage ``cnn``: a small CNN on the digits, checked by the training doctor first.

The stage follows the debugging playbook: record the internal baselines (majority class and
logistic regression), run the doctor's bug checks and overfit one batch, then train with the
:class:`~stackml.training.Trainer` (Adam, one-cycle schedule, checkpoints of the best
validation accuracy), evaluate the best checkpoint on the test split and print the
bias-variance report. 8x8 digits are legible to people nearly always, so the irreducible
error is taken as 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages.baseline import PROJECT, STAGE_TAG
from stackml.quickstart.stages.datasets import record_dataset_inputs

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext

__all__ = ["CnnStage", "digits_cnn"]


def digits_cnn() -> Any:
    """Two 3x3 convolutions with pooling and a linear head: about 20k parameters."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(64 * 2 * 2, 10),
    )


class CnnStage(Stage):
    """Doctor checks, then a tracked CNN that must beat the baselines on the digits."""

    name = "cnn"
    title = "CNN on the digits, checked by the training doctor"

    epochs = 30
    lr = 3e-3
    batch_size = 64

    def run(self, ctx: QuickstartContext) -> StageResult:
        import torch

        threads = torch.get_num_threads()
        # The network is tiny: one thread avoids the synchronisation cost of several.
        torch.set_num_threads(1)
        try:
            return self._run(ctx)
        finally:
            torch.set_num_threads(threads)

    def _run(self, ctx: QuickstartContext) -> StageResult:
        import torch
        from rich.console import Console
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset

        from stackml.training import CheckpointPolicy, Tracker, Trainer, doctor, seed_everything
        from stackml.training.doctor.render import render_bias_variance
        from stackml.training.scoring import (
            baseline_deltas,
            compute_internal_baselines,
            score_run,
            set_metric_definition,
        )

        digits = ctx.digits()
        uri = ctx.tracking_uri
        ctx.note("internal baselines")
        compute_internal_baselines(
            PROJECT,
            digits.x_train,
            digits.y_train,
            digits.x_test,
            digits.y_test,
            metric="test_accuracy",
            tracking_uri=uri,
            seed=ctx.seed,
        )
        set_metric_definition(PROJECT, weights={"test_accuracy": 1.0}, tracking_uri=uri)

        seed_everything(ctx.seed)
        raw_mean, raw_std = float(digits.x_train.mean()), float(digits.x_train.std())

        def tensors(x: Any, y: Any) -> TensorDataset:
            images = torch.tensor((x - raw_mean) / raw_std, dtype=torch.float32)
            return TensorDataset(images.reshape(-1, 1, 8, 8), torch.tensor(y))

        train_set = tensors(digits.x_train, digits.y_train)
        loader = DataLoader(
            train_set,
            batch_size=self.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(ctx.seed),
        )
        val = DataLoader(tensors(digits.x_val, digits.y_val), batch_size=512)
        test = DataLoader(tensors(digits.x_test, digits.y_test), batch_size=512)
        model = digits_cnn()
        loss_fn = nn.CrossEntropyLoss()

        ctx.note("doctor: bug checks and overfitting one batch")
        batch = next(iter(DataLoader(train_set, batch_size=32)))
        report = doctor.examine(
            model, batch, loss_fn, stats={"mean": raw_mean, "std": raw_std}, overfit_steps=100
        )

        params = {
            "model": "cnn",
            "optimizer": "adam",
            "lr": self.lr,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "schedule": "one_cycle",
            "seed": ctx.seed,
        }
        tags = {STAGE_TAG: self.name, "model.family": "cnn", "framework": "pytorch"}
        ctx.note("training the CNN")
        with Tracker(
            project=PROJECT,
            name="cnn",
            params=params,
            tags=tags,
            entrypoint=__file__,
            system_every_s=5.0,
            tracking_uri=uri,
        ) as tracker:
            run = tracker.run
            record_dataset_inputs(ctx, run)
            report.log_to(run)
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=self.lr, total_steps=self.epochs * len(loader)
            )
            trainer = Trainer(
                model,
                optimizer=optimizer,
                scheduler=schedule,
                max_epochs=self.epochs,
                tracker=tracker,
                checkpoint_dir=ctx.output_dir("cnn", "checkpoints"),
                checkpoint_policy=CheckpointPolicy(metric="val/accuracy", mode="max", keep_last=1),
                device="cpu",
            )
            trainer.fit(loader, val)
            ctx.note("evaluating")
            scores = {
                split: trainer.evaluate(data)["accuracy"]
                for split, data in (
                    ("train", DataLoader(train_set, batch_size=512)),
                    ("val", val),
                    ("test", test),
                )
            }
            run.log_metrics({f"{k}_accuracy": v for k, v in scores.items()})
            bv = doctor.bias_variance_report(
                train=1 - scores["train"],
                val=1 - scores["val"],
                test=1 - scores["test"],
                baseline=0.0,
            )
            run.log_dict(bv.to_dict(), "doctor/bias_variance.json")
        Console().print(render_bias_variance(bv))
        deltas = baseline_deltas(run.id, tracking_uri=uri)
        score = score_run(run.id, tracking_uri=uri)
        logreg_delta = deltas.get("logistic_regression", {}).get("test_accuracy", 0.0)
        return StageResult(
            headline=(
                f"test accuracy {scores['test']:.3f} ({logreg_delta:+.3f} vs logistic "
                f"regression); doctor {'ok' if report.ok else 'found problems'}; "
                f"next: {bv.next_steps[0] if bv.next_steps else '-'}"
            ),
            metrics={
                "train_accuracy": scores["train"],
                "val_accuracy": scores["val"],
                "test_accuracy": scores["test"],
                "score": float(score) if score is not None else float("nan"),
                "doctor_ok": float(report.ok),
            },
            run_ids=[run.id],
            details={"diagnosis": bv.diagnosis},
        )
