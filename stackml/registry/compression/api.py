"""``compress(ref, method, ...)``: a compressed copy of a registered version, registered as the
next version of the same model with a ``compressed_from`` lineage edge.

* ``int8-dynamic``: an onnx / sklearn-onnx source → onnx with int8 weights (MatMul/Gemm);
* ``int8-static``: an onnx / sklearn-onnx source → onnx in QDQ int8, calibrated on data;
* ``prune``: a safetensors source (pickle with trust) → ``format`` (default onnx), sparse
  weights;
* ``distill``: any loadable version as the teacher → ``format`` (default onnx), the student.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.signature import Signature

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.registry_base import ModelVersion

__all__ = ["METHODS", "compress", "fine_tuner"]

METHODS = ("int8-dynamic", "int8-static", "prune", "distill")


def fine_tuner(
    data: tuple[np.ndarray, np.ndarray], *, epochs: int = 3, lr: float = 1e-3, batch_size: int = 64
) -> Callable[[Any], Any]:
    """A ``fine_tune(model)`` callable for :func:`~stackml.registry.compression.prune`: a few
    epochs of Adam on cross-entropy with the :class:`~stackml.training.Trainer`."""

    def fine_tune(model: Any) -> Any:
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        from stackml.training import Trainer

        x = torch.from_numpy(np.asarray(data[0], dtype=np.float32))
        y = torch.from_numpy(np.asarray(data[1]).astype(np.int64))
        loader = DataLoader(
            TensorDataset(x, y),
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(0),
        )
        Trainer(model, lr=lr, max_epochs=epochs, device="cpu").fit(loader)
        return model

    return fine_tune


def compress(
    ref: str,
    method: str,
    *,
    store: Store | None = None,
    data: tuple[np.ndarray, np.ndarray] | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    calibration: np.ndarray | None = None,
    amount: float = 0.5,
    fine_tune: Callable[[Any], Any] | None = None,
    fine_tune_epochs: int = 0,
    student: Any = None,
    epochs: int = 20,
    format: str = "onnx",
    trust: bool = False,
    **options: Any,
) -> ModelVersion:
    """Compress the version ``ref`` names and register the result (``compressed_from``).

    Args:
        ref: ``NAME@N``, ``NAME@ALIAS`` or ``NAME``.
        method: One of :data:`METHODS`.
        data: Training ``(inputs, labels)``: distillation's data, pruning's fine-tuning data.
        val: Validation ``(inputs, labels)`` for distillation.
        calibration: Inputs for ``int8-static`` (default: ``data``'s inputs).
        amount: Share of weights ``prune`` zeroes.
        fine_tune: ``fine_tune(model)`` run while pruning masks are applied; or give
            ``fine_tune_epochs`` and ``data`` for a standard one.
        student: The smaller ``torch.nn.Module`` ``distill`` trains.
        epochs: Distillation epochs.
        format: Format of pruned and distilled models (``onnx`` by default).
        trust: Needed when the source is a pickle.
    """
    from stackml.registry.compression.distill import distill
    from stackml.registry.compression.prune import prune
    from stackml.registry.compression.quantize import quantize_dynamic, quantize_static
    from stackml.registry.formats.convert import (
        derive_version,
        onnx_file,
        source_files,
        torch_model,
    )

    if method not in METHODS:
        raise InvalidInput(
            f"unknown compression method {method!r}; use one of {', '.join(METHODS)}"
        )
    with source_files(ref, store) as (st, version, folder), tempfile.TemporaryDirectory() as tmp:
        example = None if data is None else np.asarray(data[0][:8])
        params: dict[str, Any] = {"method": method}
        metrics: dict[str, float] = {}
        signature = None
        if method in ("int8-dynamic", "int8-static"):
            source = onnx_file(version, folder)
            out = Path(tmp) / "model.onnx"
            if method == "int8-dynamic":
                obj: Any = quantize_dynamic(source, out)
            else:
                rows = (
                    calibration if calibration is not None else (None if data is None else data[0])
                )
                if rows is None:
                    raise InvalidInput(
                        "int8-static needs calibration data (calibration=... or data=...)"
                    )
                sig = Signature.from_dict(version.signature)
                obj = quantize_static(source, out, np.asarray(rows), input_name=sig.input().name)
                params["calibration_rows"] = len(rows)
            fmt, signature = "onnx", Signature.from_dict(version.signature)
        elif method == "prune":
            model = torch_model(version, folder, trust=trust)
            if fine_tune is None and fine_tune_epochs > 0:
                if data is None:
                    raise InvalidInput("fine-tuning after pruning needs data=(inputs, labels)")
                fine_tune = fine_tuner(data, epochs=fine_tune_epochs)
            result = prune(model, amount, fine_tune=fine_tune)
            obj, fmt = result.model, format
            if fmt == "safetensors" and version.format == "safetensors":
                # the pruned copy is rebuilt like its source: same reference and kwargs
                options.setdefault("factory", version.meta.get("reference"))
                options.setdefault("kwargs", version.meta.get("kwargs") or {})
            params.update(amount=amount, fine_tuned=fine_tune is not None)
            metrics["sparsity"] = result.sparsity
        else:
            if student is None or data is None:
                raise InvalidInput(
                    "distill needs student=<torch.nn.Module> and data=(inputs, labels)"
                )
            from stackml.registry.formats import load_predictor

            teacher = load_predictor(
                version.format,
                folder,
                dict(version.meta),
                Signature.from_dict(version.signature),
                trust=trust,
            )
            trained = distill(teacher, student, data, val=val, epochs=epochs)
            obj, fmt = trained.student, format
            params.update(epochs=epochs, student=type(student).__name__)
            if trained.history:
                metrics["val_accuracy"] = trained.history[-1].get("val/accuracy", float("nan"))
            signature = _student_signature(version, student, example)
        return derive_version(
            st,
            version,
            obj,
            format=fmt,
            relation="compressed_from",
            params=params,
            metrics=metrics,
            signature=signature,
            example=example,
            description=f"{method} of {version.ref}",
            **options,
        )


def _student_signature(
    version: ModelVersion, student: Any, example: np.ndarray | None
) -> Signature:
    """The teacher's signature, re-inferred for the student (its embedding width differs)."""
    from dataclasses import replace

    from stackml.registry.formats._torch_wrap import infer_signature

    teacher = Signature.from_dict(version.signature)
    if example is None:
        return teacher
    inferred = infer_signature(student, example, task=teacher.task, classes=teacher.classes or None)
    return replace(teacher, outputs=inferred.outputs, extra={**teacher.extra, **inferred.extra})
