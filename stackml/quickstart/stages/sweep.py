"""Stage ``sweep``: a small hyperparameter sweep of the digits CNN with ASHA pruning.

Ten trials of TPE over the learning rate (log scale), the network's width and its dropout;
each trial is a tracked child run of the sweep's run that reports validation accuracy after
every epoch, and the successive-halving pruner (ASHA) stops the unpromising ones early. The
best trial's weights are logged into its run as ``checkpoints/best/model.safetensors`` (the
registry stage registers them); the sweep page in the web UI shows the history, the pruned
curves and the parameter importances.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages.baseline import PROJECT, STAGE_TAG

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.tuning import Trial

__all__ = ["CHECKPOINT", "SweepStage", "sweep_cnn"]

CHECKPOINT = "checkpoints/best/model.safetensors"
#: The width of the quickstart CNN (``cnn.digits_cnn``): a best trial of this width has
#: weights that fit that network exactly.
DEFAULT_WIDTH = 32


def sweep_cnn(width: int = DEFAULT_WIDTH, dropout: float = 0.3) -> Any:
    """The quickstart CNN with ``width`` channels in its first convolution (twice that in the
    second); at width 32 its layers and weights match :func:`cnn.digits_cnn`."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(2 * width * 2 * 2, 10),
    )


class SweepStage(Stage):
    """TPE over lr, width and dropout with ASHA pruning; the best weights go on to the registry."""

    name = "sweep"
    title = "Hyperparameter sweep of the CNN (TPE, ASHA pruning)"

    trials = 10
    epochs = 6
    batch_size = 64

    def run(self, ctx: QuickstartContext) -> StageResult:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a tiny network: one thread avoids synchronisation costs
        try:
            return self._run(ctx)
        finally:
            torch.set_num_threads(threads)

    def _run(self, ctx: QuickstartContext) -> StageResult:
        import torch
        from safetensors.torch import save

        from stackml.tracking.artifacts import log_bytes
        from stackml.tuning import best_trial, create_sweep, importances, run_agent

        digits = ctx.digits()
        mean, std = float(digits.x_train.mean()), float(digits.x_train.std())

        def tensors(x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
            images = torch.tensor((x - mean) / std, dtype=torch.float32).reshape(-1, 1, 8, 8)
            return images, torch.tensor(y)

        x_train, y_train = tensors(digits.x_train, digits.y_train)
        x_val, y_val = tensors(digits.x_val, digits.y_val)
        x_test, y_test = tensors(digits.x_test, digits.y_test)
        weights: dict[int, dict[str, torch.Tensor]] = {}

        def train(trial: Trial) -> dict[str, float]:
            p = trial.params
            torch.manual_seed(ctx.seed + trial.number)
            model = sweep_cnn(int(p["width"]), float(p["dropout"]))
            optimizer = torch.optim.Adam(model.parameters(), lr=float(p["lr"]))
            loss_fn = torch.nn.CrossEntropyLoss()
            order = torch.Generator().manual_seed(ctx.seed)
            accuracy = 0.0
            for epoch in range(self.epochs):
                model.train()
                for idx in torch.randperm(len(x_train), generator=order).split(self.batch_size):
                    optimizer.zero_grad()
                    loss = loss_fn(model(x_train[idx]), y_train[idx])
                    loss.backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    accuracy = float((model(x_val).argmax(1) == y_val).float().mean())
                trial.report(
                    {"val_accuracy": accuracy, "train_loss": float(loss.detach())}, step=epoch
                )
            weights[trial.number] = {k: v.clone() for k, v in model.state_dict().items()}
            return {"val_accuracy": accuracy}

        definition = {
            "name": f"cnn-sweep-{uuid.uuid4().hex[:6]}",
            "project": PROJECT,
            "method": "tpe",
            "space": {
                "lr": {"type": "float", "low": 3e-4, "high": 3e-2, "log": True},
                "width": {"type": "categorical", "choices": [16, 32, 48]},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            },
            "objective": {"metric": "val_accuracy", "direction": "maximize"},
            "pruner": {"type": "asha", "min_resource": 1, "reduction_factor": 3},
            "budget": {"trials": self.trials},
            "seed": ctx.seed,
        }
        uri = ctx.tracking_uri
        sweep = create_sweep(definition, tracking_uri=uri)
        ctx.store.metadata.set_tags(sweep.run_id, {STAGE_TAG: self.name})
        ctx.note(f"sweep {sweep.name}: {self.trials} trials, ASHA pruning")
        result = run_agent(
            sweep.id,
            train,
            tracking_uri=uri,
            wait_for_others_s=0,
            on_trial=lambda n: ctx.note(f"trial {n} done"),
        )
        best = best_trial(sweep.id, tracking_uri=uri)
        assert best.run_id is not None
        model = sweep_cnn(int(best.params["width"]), float(best.params["dropout"]))
        model.load_state_dict(weights[best.number])
        model.eval()
        with torch.no_grad():
            test_accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        artifact = (
            CHECKPOINT
            if int(best.params["width"]) == DEFAULT_WIDTH
            else ("checkpoints/sweep/model.safetensors")
        )
        log_bytes(ctx.store, best.run_id, save(state), artifact, "application/octet-stream")
        ranked = importances(sweep.id, tracking_uri=uri)
        top = next(iter(ranked), "-")
        pruned = result.states.get("pruned", 0)
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()
        )
        best_val = float(best.values[0]) if best.values else float("nan")
        return StageResult(
            headline=(
                f"{len(result.trials)} trials ({pruned} pruned by ASHA); best val accuracy "
                f"{best_val:.3f} ({params}); most important: {top}"
            ),
            metrics={
                "best_val_accuracy": best_val,
                "best_test_accuracy": test_accuracy,
                "trials": float(len(result.trials)),
                "pruned": float(pruned),
            },
            run_ids=[sweep.run_id, best.run_id],
            details={
                "sweep_id": sweep.id,
                "best_run_id": best.run_id,
                "model_artifact": artifact,
                "model_factory": f"{__name__}:sweep_cnn",
                "model_kwargs": (
                    f'{{"width": {int(best.params["width"])}, '
                    f'"dropout": {float(best.params["dropout"])}}}'
                ),
                "page": f"/sweeps/{sweep.id}",
            },
        )
