"""Stage ``registry``: register the best model, export it to ONNX, quantize it to int8, compare.

The source is the sweep's best trial when the ``sweep`` stage ran (its weights, rebuilt with
the trial's width and dropout), otherwise the ``cnn`` stage's best checkpoint. Three versions
of the model ``digits`` come out of it, each with its lineage:

1. ``safetensors`` weights (with the standardisation folded into the model, so it takes raw
   0..16 pixels), logged into the training run and registered from there;
2. the same network exported to ONNX (dynamic batch, parity-checked), also logged into the
   training run, with an ``exported_from`` edge to version 1;
3. that ONNX graph quantized to int8 with ONNX Runtime, evaluated on the test split in its
   own run, with a ``compressed_from`` edge to version 2.

The comparison table (size, p50/p99 latency at batch 1 and 32, accuracy, agreement) is
printed. The production gate (beat the logistic-regression baseline) is configured here and the
candidate (int8 when it keeps accuracy, else the ONNX model) goes to ``staging``. Promotion to
``production`` is the ``check`` stage's job (it adds the ML Test Score gate); without a check
stage, this stage promotes the candidate through its gate itself.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.quickstart.stage import Stage, StageResult
from stackml.quickstart.stages.baseline import PROJECT, STAGE_TAG

if TYPE_CHECKING:
    from stackml.quickstart.context import QuickstartContext

__all__ = ["MODEL", "RegistryStage", "check_stage_follows", "digits_classifier"]

MODEL = "digits"
CLASSES = [str(i) for i in range(10)]
#: int8 is chosen when it loses at most this much test accuracy against the ONNX model.
MAX_INT8_LOSS = 0.005


def check_stage_follows() -> bool:
    """Whether the quickstart has a ``check`` stage, which promotes through the ML Test Score."""
    from stackml.quickstart.stages import default_stages

    return any(stage.name == "check" for stage in default_stages())


def digits_classifier(mean: float, std: float, width: int = 32, dropout: float = 0.3) -> Any:
    """The quickstart CNN (the sweep's, of ``width``) behind a standardisation step: it takes
    raw ``(N, 1, 8, 8)`` pixels (0..16)."""
    import torch
    from torch import nn

    from stackml.quickstart.stages.sweep import sweep_cnn

    class Standardize(nn.Module):
        mean: torch.Tensor
        std: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mean", torch.tensor(float(mean)))
            self.register_buffer("std", torch.tensor(float(std)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) / self.std

    return nn.Sequential(Standardize(), sweep_cnn(width, dropout))


@dataclass(frozen=True)
class _Source:
    """Where the trained weights are, and how to rebuild the network around them."""

    run_id: str
    artifact: str
    kwargs: dict[str, Any]
    stage: str


def _source(ctx: QuickstartContext) -> _Source:
    """The sweep's best trial when the sweep ran and kept its weights, else the CNN's run."""
    from stackml.errors import Conflict, StackmlError

    sweep = ctx.results.get("sweep")
    if sweep is not None and sweep.details.get("best_run_id"):
        run_id, artifact = sweep.details["best_run_id"], sweep.details.get("model_artifact", "")
        try:
            ctx.store.metadata.get_artifact(run_id, artifact)
            kwargs = json.loads(sweep.details.get("model_kwargs") or "{}")
            return _Source(run_id, artifact, dict(kwargs), "sweep")
        except (StackmlError, ValueError):
            ctx.note("the sweep's best trial kept no weights: using the CNN stage's run")
    cnn = ctx.results.get("cnn")
    if cnn is None or cnn.run_id is None:
        raise Conflict("the registry stage needs the cnn (or sweep) stage to run first")
    return _Source(cnn.run_id, "checkpoints/best/model.safetensors", {}, "cnn")


def _trained_model(ctx: QuickstartContext, source: _Source, mean: float, std: float) -> Any:
    from safetensors.torch import load_file

    from stackml.tracking.artifacts import download_artifact

    with tempfile.TemporaryDirectory() as tmp:
        path = download_artifact(ctx.store, source.run_id, source.artifact, Path(tmp) / "w")
        state = load_file(str(path))
    model = digits_classifier(mean, std, **source.kwargs)
    model[1].load_state_dict(state)
    return model.eval()


def _accuracy(predictor: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    from stackml.registry.compare import predicted_labels

    labels = predicted_labels(predictor, x)
    return float(np.mean(labels == y.astype(str))), labels


class RegistryStage(Stage):
    """Register, export to ONNX, quantize to int8 and compare; configure the production gate."""

    name = "registry"
    title = "Model registry: register, export to ONNX, quantize to int8, compare"

    repeats = 20

    def run(self, ctx: QuickstartContext) -> StageResult:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._run(ctx)
        finally:
            torch.set_num_threads(threads)

    def _run(self, ctx: QuickstartContext) -> StageResult:
        import torch
        from rich.console import Console

        from stackml.registry import register, set_alias, set_gates
        from stackml.registry.compare import compare, report_table
        from stackml.registry.versions import log_model
        from stackml.tracking import api
        from stackml.tracking.run import ActiveRun

        store = ctx.store
        digits = ctx.digits()
        mean, std = float(digits.x_train.mean()), float(digits.x_train.std())
        x_test = digits.x_test.reshape(-1, 1, 8, 8).astype(np.float32)
        y_test = np.asarray(digits.y_test)
        source = _source(ctx)
        run_id, origin = source.run_id, source.stage
        model = _trained_model(ctx, source, mean, std)
        kwargs = {"mean": mean, "std": std, **source.kwargs}
        factory: dict[str, Any] = {"factory": f"{__name__}:digits_classifier", "kwargs": kwargs}
        example = x_test[:8]
        training = ActiveRun(store, api.writer_for(store), store.metadata.get_run(run_id))
        if "test_accuracy" not in training.info.metrics:  # a sweep trial reports val only
            with torch.no_grad():
                scores = model(torch.from_numpy(x_test)).argmax(1).numpy()
            training.log_metrics({"test_accuracy": float(np.mean(scores == y_test))})
            training.flush()

        ctx.note(f"registering the {origin} model")
        log_model(
            training,
            model,
            "model",
            format="safetensors",
            example=example,
            task="classification",
            classes=CLASSES,
            **factory,
        )
        fp32 = register(
            MODEL,
            run_id=run_id,
            artifact_path="model",
            description=f"quickstart CNN ({origin} stage), standardisation folded in",
            tags={"origin": origin},
            store=store,
        )

        ctx.note("exporting to ONNX (dynamic batch, parity-checked)")
        log_model(
            training,
            model,
            "model-onnx",
            format="onnx",
            example=example,
            task="classification",
            classes=CLASSES,
        )
        onnx = register(
            MODEL,
            run_id=run_id,
            artifact_path="model-onnx",
            description=f"ONNX export of {fp32.ref}",
            source_version=fp32.ref,
            relation="exported_from",
            tags={"export": "onnx"},
            store=store,
        )

        ctx.note("quantizing to int8 with ONNX Runtime")
        int8 = self._quantize(ctx, onnx, x_test, y_test)

        ctx.note("comparing size, latency and accuracy")
        report = compare(
            [fp32.ref, onnx.ref, int8.ref], (x_test, y_test), store=store, repeats=self.repeats
        )
        Console().print(report_table(report))
        rows = {r.label: r for r in report.rows}
        onnx_acc = rows[onnx.ref].accuracy or 0.0
        int8_acc = rows[int8.ref].accuracy or 0.0
        candidate = int8 if int8_acc >= onnx_acc - MAX_INT8_LOSS else onnx

        baseline = ctx.results.get("baseline")
        floor = baseline.metrics.get("test_accuracy") if baseline is not None else None
        gate = (
            f"metric:test_accuracy>={floor:.4f}"
            if floor is not None
            else "metric:test_accuracy>=0.9"
        )
        set_gates(MODEL, [gate], store=store)
        store.metadata.update_registered_model(
            MODEL, description="8x8 handwritten digits classifier (quickstart)"
        )
        set_alias(
            candidate.ref,
            "staging",
            reason=f"candidate: {candidate.description}",
            author="quickstart",
            store=store,
        )
        promoted = ""
        if not check_stage_follows():  # otherwise the check stage promotes, with its gate
            promoted = self._promote(ctx, candidate.ref)
        size_ratio = onnx.size_bytes / max(int8.size_bytes, 1)
        return StageResult(
            headline=(
                f"{fp32.ref} safetensors, {onnx.ref} onnx, {int8.ref} int8 "
                f"({size_ratio:.2f}x smaller than onnx; test accuracy {int8_acc:.3f} vs "
                f"{onnx_acc:.3f}); candidate {candidate.ref} on staging{promoted}"
            ),
            metrics={
                "onnx_test_accuracy": onnx_acc,
                "int8_test_accuracy": int8_acc,
                "int8_agreement": rows[int8.ref].agreement or 0.0,
                "int8_size_ratio": size_ratio,
            },
            run_ids=[run_id, int8.run_id],
            details={
                "model": MODEL,
                "candidate": candidate.ref,
                "fp32": fp32.ref,
                "onnx": onnx.ref,
                "int8": int8.ref,
                "gate": gate,
                "source_stage": origin,
            },
        )

    def _promote(self, ctx: QuickstartContext, ref: str) -> str:
        """Promote ``ref`` to production through its gate; a refusal is reported, not raised."""
        from stackml.registry import GateFailed, promote

        try:
            promote(
                ref,
                reason="quickstart: passes the production gate",
                author="quickstart",
                store=ctx.store,
            )
        except GateFailed as refused:
            ctx.note(f"promotion refused: {refused}")
            return ", production gate refused it"
        return ", promoted to production"

    def _quantize(self, ctx: QuickstartContext, onnx: Any, x: np.ndarray, y: np.ndarray) -> Any:
        """Quantize in a run of its own, measure it on the test split, then register it."""
        import stackml
        from stackml.registry import load, register
        from stackml.registry.compression import quantize_dynamic
        from stackml.registry.formats import load_predictor, save_model
        from stackml.registry.formats.convert import onnx_file
        from stackml.registry.loading import download_version
        from stackml.registry.signature import Signature
        from stackml.registry.versions import log_model

        store = ctx.store
        signature = Signature.from_dict(onnx.signature)
        _, reference = _accuracy(load(onnx.ref, store=store), x, y)
        with tempfile.TemporaryDirectory() as tmp:
            source = onnx_file(onnx, download_version(store, onnx, Path(tmp) / "src"))
            quantized = Path(tmp) / "model-int8.onnx"
            quantize_dynamic(source, quantized)
            check = save_model(quantized, Path(tmp) / "check", format="onnx", signature=signature)
            predictor = load_predictor("onnx", Path(tmp) / "check", dict(check.meta), signature)
            accuracy, labels = _accuracy(predictor, x, y)
            with stackml.start_run(
                project=PROJECT,
                name=f"int8 of {onnx.ref}",
                params={"method": "int8-dynamic", "source": onnx.ref},
                tags={STAGE_TAG: self.name},
                tracking_uri=ctx.tracking_uri,
                capture_environment=False,
            ) as run:
                run.log_metrics(
                    {"test_accuracy": accuracy, "agreement": float(np.mean(labels == reference))}
                )
                log_model(run, quantized, "model", format="onnx", signature=signature)
        return register(
            MODEL,
            run_id=run.id,
            artifact_path="model",
            description=f"int8 (dynamic, ONNX Runtime) of {onnx.ref}",
            source_version=onnx.ref,
            relation="compressed_from",
            tags={"compression": "int8 dynamic"},
            store=store,
        )
