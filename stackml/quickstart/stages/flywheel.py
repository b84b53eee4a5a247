"""Stage ``flywheel``: retrain on the new labeled dataset version and report the turn.

The labeled version the ``labeling`` stage exported triggers the monitor's retraining
pipeline (``digits-retrain``, run through :func:`stackml.monitoring.retrain_on_export`, so
the lineage dataset version -> pipeline run is recorded). Its steps fine-tune the production
CNN on the training split plus the labeled production digits, then score the old and the new
model on the clean test split and on the shifted holdout (never routed, never labeled). The
new weights become a registered model version, which must pass the production gate. The turn
(routed, labeled, version, accuracy before and after on the drifted data) is kept as the
monitor's flywheel result and printed.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.pipelines import pipeline, step
from stackml.quickstart.stage import Stage, StageResult

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext

__all__ = ["FlywheelStage", "digits_retrain"]

PIPELINE = "digits-retrain"
#: Each labeled production digit is seen this many times per epoch (there are few of them).
OVERSAMPLE = 8
EPOCHS = 12


def _splits(seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    from stackml.quickstart.digits import load_digits_splits
    from stackml.quickstart.stages.labeling import shift_digits

    digits = load_digits_splits(seed=seed)
    shifted = shift_digits(digits.x_test, seed)
    order = np.random.default_rng(seed).permutation(len(shifted))
    return digits, shifted, order[len(order) // 2 :]


def _base_model(base: str, mean: float, std: float) -> Any:
    if base:
        import stackml.registry as reg
        from stackml.pipelines import current_store

        predictor: Any = reg.load(base, store=current_store())
        module = predictor.module
        # A registered torch model runs inside an output wrapper; train the network itself.
        return copy.deepcopy(getattr(module, "model", module))
    from stackml.quickstart.stages.registry import digits_classifier

    return digits_classifier(mean, std)


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        scores = model.eval()(torch.tensor(x.reshape(-1, 1, 8, 8), dtype=torch.float32))
    return float((scores.argmax(1).numpy() == np.asarray(y)).mean())


def _labeled_images(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The labeled images of a dataset version (PNGs, 0..255 for pixels 0..16) and labels."""
    from PIL import Image

    import stackml.data as sd
    from stackml.pipelines import current_store

    name, _, ref = dataset.partition("@")
    handle = sd.get(name, ref, store=current_store())
    table = handle.to_arrow().to_pydict()
    xs, ys = [], []
    for path, label in zip(table["path"], table["label"], strict=True):
        if label is None or not str(label).isdigit():
            continue
        with Image.open(handle.path / path) as image:
            pixels = np.asarray(image.convert("L").resize((8, 8)), dtype=np.float64)
        xs.append(pixels.reshape(-1) * (16 / 255))
        ys.append(int(label))
    if not xs:
        return np.zeros((0, 64)), np.zeros(0, dtype=np.int64)
    return np.stack(xs), np.array(ys, dtype=np.int64)


@step(cache=False)
def finetune(dataset: str, base: str, seed: int) -> Any:
    """Fine-tune the production CNN on the training split plus the labeled production digits."""
    import torch

    digits, _, _ = _splits(seed)
    extra_x, extra_y = _labeled_images(dataset)
    x = np.concatenate([digits.x_train, *[extra_x] * OVERSAMPLE])
    y = np.concatenate([digits.y_train, *[extra_y] * OVERSAMPLE]).astype(np.int64)
    torch.manual_seed(seed)
    model = _base_model(base, float(digits.x_train.mean()), float(digits.x_train.std()))
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt = torch.tensor(x.reshape(-1, 1, 8, 8), dtype=torch.float32)
    yt = torch.tensor(y)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(xt), generator=generator).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
            optimizer.step()
    print(
        f"fine-tuned on {len(digits.x_train)} training and {len(extra_y)} labeled production digits"
    )
    return model.state_dict()


@step(cache=False)
def evaluate(weights: Any, base: str, seed: int) -> dict[str, float]:
    """Accuracy of the old and the new model on the clean test split and the shifted holdout."""
    digits, shifted, holdout = _splits(seed)
    mean, std = float(digits.x_train.mean()), float(digits.x_train.std())
    new = _base_model(base, mean, std)
    new.load_state_dict(weights)
    out = {
        "new_clean": _accuracy(new, digits.x_test, digits.y_test),
        "new_shifted": _accuracy(new, shifted[holdout], digits.y_test[holdout]),
    }
    if base:
        old = _base_model(base, mean, std)
        out["old_clean"] = _accuracy(old, digits.x_test, digits.y_test)
        out["old_shifted"] = _accuracy(old, shifted[holdout], digits.y_test[holdout])
    return out


@pipeline(name=PIPELINE, project="digits")
def digits_retrain(dataset: str, base: str = "", seed: int = 0) -> None:
    """Retrain the digits CNN on a labeled dataset version and score it."""
    evaluate(finetune(dataset, base, seed), base, seed)


def _factory_kwargs(model: Any, ctx: QuickstartContext) -> dict[str, float]:
    """Arguments that rebuild ``model`` with :func:`registry.digits_classifier`."""
    from torch import nn

    cnn = model[1]
    dropout = next((m.p for m in cnn if isinstance(m, nn.Dropout)), 0.3)
    digits = ctx.digits()
    return {
        "mean": float(digits.x_train.mean()),
        "std": float(digits.x_train.std()),
        "width": int(cnn[0].out_channels),
        "dropout": float(dropout),
    }


class FlywheelStage(Stage):
    """The labeled data retrains the model; the report shows accuracy before and after."""

    name = "flywheel"
    title = "Flywheel: retrain on the labeled version, gate, report before/after"

    def run(self, ctx: QuickstartContext) -> StageResult:
        import stackml.monitoring as mon
        from stackml.errors import InvalidInput
        from stackml.quickstart.stages.monitoring import MONITOR

        store = ctx.store
        labeling, monitoring = ctx.results.get("labeling"), ctx.results.get("monitoring")
        if labeling is None or not labeling.details.get("dataset_version"):
            raise InvalidInput("the flywheel stage needs the labeling stage's dataset version")
        name, _, vid = labeling.details["dataset_version"].partition("@")
        version = store.metadata.get_dataset_version(name, vid)
        registry = ctx.results.get("registry")
        base = registry.details.get("fp32", "") if registry else ""
        monitor = monitoring.details.get("monitor", MONITOR) if monitoring else MONITOR
        spec = dict(store.metadata.get_monitor(monitor).spec)
        spec["retrain"] = {"pipeline": PIPELINE, "params": {"base": base, "seed": ctx.seed}}
        store.metadata.update_monitor(monitor, spec=spec)
        project = monitoring.details.get("label_project", "") if monitoring else ""
        ctx.note(f"{version.label} triggers the retraining pipeline {PIPELINE}")
        # The same call ``stackml label export`` makes: every monitor routing into the
        # exported project retrains on the new version.
        started = mon.retrain_on_export(store, project, version) if project else {}
        if monitor not in started:
            raise InvalidInput(f"monitor {monitor!r} does not route into label project {project!r}")
        result = started[monitor].raise_for_status()
        scores = result.output("evaluate")
        gate = self._register(ctx, result, base, scores)
        routed = len(store.metadata.list_routed(monitor))
        labeled = int(labeling.metrics.get("labeled", 0))
        old_shifted = scores.get("old_shifted")
        mon.record_turn(
            store,
            monitor,
            routed=routed,
            labeled=labeled,
            dataset_version=version.ref,
            old_accuracy=old_shifted,
            new_accuracy=scores["new_shifted"],
            start_ms=0,
            end_ms=version.created_at,
            pipeline_run=result.run_id,
            gate=gate,
            old_clean=scores.get("old_clean"),
            new_clean=scores["new_clean"],
        )
        self._print(version.label, routed, labeled, scores, gate)
        before = "n/a" if old_shifted is None else f"{old_shifted:.3f}"
        return StageResult(
            headline=(
                f"{version.label} retrained via {PIPELINE}; shifted holdout accuracy "
                f"{before} -> {scores['new_shifted']:.3f}; gate: {gate}"
            ),
            metrics={k: float(v) for k, v in scores.items()},
            details={"pipeline_run": result.run_id, "dataset_version": version.ref, "gate": gate},
        )

    def _register(
        self, ctx: QuickstartContext, result: Any, base: str, scores: dict[str, float]
    ) -> str:
        """Register the new weights as a model version and try the production gate."""
        if not base:
            return "skipped (no registered model to retrain)"
        import stackml.registry as reg
        from stackml.errors import StackmlError
        from stackml.registry.versions import log_model
        from stackml.tracking import api
        from stackml.tracking.run import ActiveRun

        store = ctx.store
        try:
            run_id = result.steps["finetune"].run_id
            old: Any = reg.load(base, store=store)
            model = copy.deepcopy(getattr(old.module, "model", old.module))
            model.load_state_dict(result.output("finetune"))
            run = ActiveRun(store, api.writer_for(store), store.metadata.get_run(run_id))
            # The fine-tune read the digits training split and the labeled version.
            inputs = [
                ctx.results[n].details.get(k)
                for n, k in (("datasets", "digits"), ("labeling", "dataset_version"))
                if n in ctx.results
            ]
            for ref in filter(None, inputs):
                dataset, _, ident = ref.partition("@")
                run.use_dataset(dataset, ident)
            run.log_metrics(
                {"test_accuracy": scores["new_clean"], "shifted_accuracy": scores["new_shifted"]}
            )
            run.flush()
            example = ctx.digits().x_test[:8].reshape(-1, 1, 8, 8).astype(np.float32)
            model_name = base.partition("@")[0]
            log_model(
                run,
                model.eval(),
                "model",
                format="safetensors",
                example=example,
                task="classification",
                classes=[str(i) for i in range(10)],
                factory="stackml.quickstart.stages.registry:digits_classifier",
                kwargs=_factory_kwargs(model, ctx),
            )
            new = reg.register(
                model_name,
                run_id=run_id,
                artifact_path="model",
                description="retrained on labeled production digits",
                source_version=base,
                relation="retrained_from",
                store=store,
            )
            reg.promote(new.ref, alias="production", reason="flywheel retrain", store=store)
            return f"{new.ref} passed and is production"
        except StackmlError as exc:
            return f"not promoted ({exc})"[:300]

    def _print(
        self, label: str, routed: int, labeled: int, scores: dict[str, float], gate: str
    ) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Flywheel turn: {routed} routed, {labeled} labeled, {label}")
        table.add_column("model")
        table.add_column("clean test", justify="right")
        table.add_column("shifted holdout", justify="right")
        if "old_clean" in scores:
            table.add_row("before", f"{scores['old_clean']:.3f}", f"{scores['old_shifted']:.3f}")
        table.add_row("after", f"{scores['new_clean']:.3f}", f"{scores['new_shifted']:.3f}")
        console = Console()
        console.print(table)
        console.print(f"gate: {gate}")
