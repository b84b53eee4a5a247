"""Stage ``labeling``: route the model's least confident "production" digits to a label
queue, label them with a simulated annotator through the queue API, export a new dataset
version.

"Production" is the held-out test digits with a realistic shift (each image rotated by up to
±20° and slightly blurred). Half of them form the pool that can be routed; the other half is
the shifted holdout, never routed or labeled, on which a retrained model is judged later
(saved as ``holdout.npz``). When the ``monitoring`` stage ran and routed items itself
(its result names the label project in ``details["label_project"]``), those tasks are
labeled instead of routing here.

The simulated annotator asks for leased tasks and submits the true label, wrong 5% of the
time, with a plausible time per item; a few gold tasks with known answers are mixed in, so
the quality numbers (gold accuracy) have work to do. The labels are exported as a new version
of the dataset ``digits-flywheel`` with lineage from the label project.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.stage import Stage, StageResult

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext
    from stackml.quickstart.digits import DigitsSplits
    from stackml.store import Store

__all__ = ["LabelingStage", "shift_digits"]

PROJECT = "digits-flywheel"
DATASET = "digits-flywheel"
CLASSES = [str(i) for i in range(10)]
ROUTED = 60
GOLD = 6
ERROR_RATE = 0.05


def shift_digits(x: np.ndarray, seed: int) -> np.ndarray:
    """Rotate each 8x8 digit (0..16 pixels, flat rows) by up to ±20° and blur it a little."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = np.empty_like(x, dtype=np.float64)
    for i, row in enumerate(np.asarray(x, dtype=np.float64)):
        image = ndimage.rotate(row.reshape(8, 8), rng.uniform(-20, 20), reshape=False, order=1)
        out[i] = np.clip(ndimage.gaussian_filter(image, 0.5), 0, 16).reshape(-1)
    return out


def _png(row: np.ndarray) -> bytes:
    from PIL import Image

    pixels = np.round(np.asarray(row).reshape(8, 8) * (255 / 16)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _probabilities(
    ctx: QuickstartContext, digits: DigitsSplits, x: np.ndarray
) -> tuple[np.ndarray, str]:
    """Class probabilities of ``x`` (raw 0..16 pixels) from the best model at hand."""
    registry = ctx.results.get("registry")
    if registry is not None and registry.details.get("fp32"):
        import stackml.registry as reg

        predictor = reg.load(registry.details["fp32"], store=ctx.store)
        outputs = predictor.predict(x.reshape(-1, 1, 8, 8).astype(np.float32))
        scores = np.asarray(outputs[predictor.signature.probabilities or next(iter(outputs))])
        return _softmax(scores), registry.details["fp32"]
    cnn = ctx.results.get("cnn")
    if cnn is not None and cnn.run_id:
        model = _cnn_from_run(ctx, digits, cnn.run_id)
        if model is not None:
            import torch

            with torch.no_grad():
                logits = model(torch.tensor(x.reshape(-1, 1, 8, 8), dtype=torch.float32)).numpy()
            return _softmax(logits), f"run {cnn.run_id}"
    ctx.note("no CNN at hand: a nearest-centroid classifier scores the pool")
    centroids = np.stack([digits.x_train[digits.y_train == c].mean(axis=0) for c in range(10)])
    distances = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=-1)
    return _softmax(-distances / distances.std()), "nearest centroid"


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if np.all(scores >= 0) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        return scores
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cnn_from_run(ctx: QuickstartContext, digits: DigitsSplits, run_id: str) -> Any:
    import tempfile
    from pathlib import Path

    from safetensors.torch import load_file

    from stackml.errors import StackmlError
    from stackml.quickstart.stages.registry import digits_classifier
    from stackml.tracking.artifacts import download_artifact

    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = download_artifact(
                ctx.store, run_id, "checkpoints/best/model.safetensors", Path(tmp) / "w.safetensors"
            )
            state = load_file(str(path))
    except StackmlError:
        return None
    model = digits_classifier(float(digits.x_train.mean()), float(digits.x_train.std()))
    model[1].load_state_dict(state)
    return model.eval()


class LabelingStage(Stage):
    """Low-confidence shifted digits go to a label queue and come back as a dataset version."""

    name = "labeling"
    title = "Label the least confident production digits"

    def run(self, ctx: QuickstartContext) -> StageResult:
        import stackml.labeling as sl

        store = ctx.store
        digits = ctx.digits()
        truth = self._route(ctx, store, digits)
        ctx.note("a simulated annotator labels the queue")
        rng = np.random.default_rng(ctx.seed + 1)
        project = truth.pop("__project__")
        wrong = labeled = 0
        while tasks := sl.next_tasks(project, user="sim-annotator", limit=20, store=store):
            for task in tasks:
                true = truth.get(task.key or "")
                if true is None and task.gold is not None:
                    true = task.gold["class"]
                if true is None:  # routed by someone else without a known answer: skip it
                    sl.skip(
                        task.id,
                        "no answer known to the simulation",
                        user="sim-annotator",
                        store=store,
                    )
                    continue
                answer = true
                if rng.random() < ERROR_RATE:
                    answer = str(rng.choice([c for c in CLASSES if c != true]))
                    wrong += 1
                duration = int(rng.normal(2500, 600))
                sl.submit(
                    task.id,
                    {"class": answer},
                    user="sim-annotator",
                    duration_ms=max(duration, 400),
                    store=store,
                )
                labeled += 1
        stats = {s.user: s for s in sl.annotator_stats(project, store=store)}
        annotator = stats.get("sim-annotator")
        gold = (
            annotator.gold_accuracy
            if annotator and annotator.gold_accuracy is not None
            else float("nan")
        )
        ctx.note("exporting the labels as a new dataset version")
        version = sl.export_dataset(
            project, DATASET, message="labels of routed production digits", store=store
        )
        progress = sl.progress(project, store=store)
        return StageResult(
            headline=(
                f"{progress.total} tasks routed to {project}, {labeled} labeled "
                f"({wrong} simulated mistakes, gold accuracy {gold:.2f}); exported {version.label}"
            ),
            metrics={
                "routed": float(progress.total),
                "labeled": float(labeled),
                "annotator_mistakes": float(wrong),
                "gold_accuracy": float(gold),
            },
            details={
                "label_project": project,
                "dataset_version": version.ref,
                "holdout": truth.get("__holdout__", ""),
            },
        )

    def _route(self, ctx: QuickstartContext, store: Store, digits: DigitsSplits) -> dict[str, str]:
        """Queue the routed items; answer ``key -> true label`` (plus bookkeeping entries)."""
        import stackml.labeling as sl
        from stackml.errors import NotFound

        shifted = shift_digits(digits.x_test, ctx.seed)
        rng = np.random.default_rng(ctx.seed)
        order = rng.permutation(len(shifted))
        pool, holdout = order[: len(order) // 2], order[len(order) // 2 :]
        folder = ctx.output_dir("labeling")
        holdout_path = folder / "holdout.npz"
        np.savez(holdout_path, x=shifted[holdout], y=digits.y_test[holdout])
        truth = {f"prod-{i}": str(int(digits.y_test[i])) for i in pool}
        truth["__holdout__"] = str(holdout_path)
        monitoring = ctx.results.get("monitoring")
        routed_project = monitoring.details.get("label_project") if monitoring else None
        if routed_project:
            try:
                store.metadata.get_label_project(routed_project)
                ctx.note(f"labeling the items monitoring routed to {routed_project}")
                truth.update(_monitoring_truth(monitoring.details))  # type: ignore[union-attr]
                truth["__project__"] = routed_project
                return truth
            except NotFound:
                ctx.note("monitoring named no existing label project: routing here")
        try:
            store.metadata.get_label_project(PROJECT)
        except NotFound:
            sl.create_project(
                PROJECT,
                "image_classification",
                [{"name": c, "hotkey": c} for c in CLASSES],
                instructions="Type the digit you see (0-9), then n. Skip unreadable images with s.",
                description="Least confident predictions on shifted production digits",
                store=store,
            )
        probs, model_name = _probabilities(ctx, digits, shifted[pool])
        confidence = probs.max(axis=1)
        chosen = np.argsort(confidence)[:ROUTED]  # least confident first
        items: list[dict[str, Any]] = []
        for j in chosen:
            i = int(pool[j])
            items.append(
                {
                    "image_bytes": _png(shifted[i]),
                    "key": f"prod-{i}",
                    "priority": float(1 - confidence[j]),
                    "prelabel": {
                        "value": str(int(probs[j].argmax())),
                        "model": model_name,
                        "confidence": float(confidence[j]),
                    },
                }
            )
        for g in range(GOLD):  # known answers from the training split score the annotator
            label = str(int(digits.y_train[g]))
            items.append(
                {
                    "image_bytes": _png(digits.x_train[g]),
                    "key": f"gold-{g}",
                    "gold": {"class": label},
                }
            )
        ctx.note(
            f"routing the {ROUTED} least confident of {len(pool)} shifted digits ({model_name})"
        )
        sl.add_tasks(PROJECT, items, source="quickstart:flywheel", store=store)
        truth["__project__"] = PROJECT
        return truth


def _monitoring_truth(details: dict[str, str]) -> dict[str, str]:
    """``key -> label`` from the file monitoring left (``details["truth"]``, JSON), if any."""
    import json
    from pathlib import Path

    path = details.get("truth")
    if not path or not Path(path).is_file():
        return {}
    doc = json.loads(Path(path).read_text())
    return {str(k): str(v) for k, v in doc.items()}
