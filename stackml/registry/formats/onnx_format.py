"""ONNX formats: ``onnx`` (exported from PyTorch or an existing file) and ``ort`` (ONNX Runtime
Mobile's flatbuffer format), plus :func:`check_parity` between PyTorch and ONNX Runtime.

Export uses the ``torch.export``-based exporter (``dynamo=True``) with a dynamic batch
dimension named ``batch``, weights inside the one ``model.onnx`` file, and runs
``onnx.checker.check_model(full_check=True)``. When the exported model comes from PyTorch, the
saved metadata records a parity check on the example batch (and ``save`` fails when the
outputs differ by more than ``atol``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import (
    ModelFiles,
    ModelFormat,
    file_hashes,
    safe_file,
    total_size,
    verify_files,
)
from stackml.registry.onnx_runtime import OnnxPredictor
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature, TensorSpec

__all__ = ["OnnxFormat", "OrtFormat", "ParityReport", "check_onnx", "check_parity", "export_onnx"]

_ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}


@dataclass(frozen=True)
class ParityReport:
    """How closely two runtimes agree on the same rows.

    Attributes:
        max_abs_diff: Largest absolute difference over every compared output.
        agreement: Share of rows whose arg-max of the first output matches (1.0 when the
            output is not a score vector).
        rows: Rows compared.
        passed: ``max_abs_diff <= atol``.
    """

    max_abs_diff: float
    agreement: float
    rows: int
    passed: bool


def check_parity(
    reference: Any,
    candidate: Predictor,
    data: np.ndarray,
    *,
    atol: float = 1e-4,
    batch_size: int = 256,
    outputs: list[str] | None = None,
) -> ParityReport:
    """Compare ``candidate`` (e.g. an :class:`OnnxPredictor`) with ``reference`` on ``data``.

    ``reference`` is a :class:`Predictor` or a ``torch.nn.Module`` (run in eval mode; its
    single output is compared with the candidate's first output, ``logits``/``output``).
    """
    data = np.asarray(data)
    if len(data) == 0:
        raise InvalidInput("parity needs at least one row")
    if not isinstance(reference, Predictor):
        reference = _module_predictor(reference, candidate.signature)
    names = outputs or [o.name for o in candidate.signature.outputs]
    max_diff, agree = 0.0, 0
    for start in range(0, len(data), batch_size):
        chunk = data[start : start + batch_size]
        want, got = reference.predict(chunk), candidate.predict(chunk)
        common = [n for n in names if n in want and n in got] or [next(iter(got))]
        for n in common:
            a = np.asarray(want.get(n, next(iter(want.values()))), dtype=np.float64)
            b = np.asarray(got[n], dtype=np.float64)
            max_diff = max(max_diff, float(np.max(np.abs(a - b))) if a.size else 0.0)
        first = common[0]
        a, b = np.asarray(want.get(first, next(iter(want.values())))), np.asarray(got[first])
        agree += int((a.argmax(-1) == b.argmax(-1)).sum()) if a.ndim == 2 else len(chunk)
    return ParityReport(max_diff, agree / len(data), len(data), max_diff <= atol)


def _module_predictor(module: Any, signature: Signature) -> Predictor:
    from stackml.registry.formats._torch_wrap import OutputWrapper
    from stackml.registry.torch_runtime import TorchPredictor

    wrapper = OutputWrapper(module, classification=signature.task == "classification").eval()
    return TorchPredictor(wrapper, signature, output_names=wrapper.names)


def export_onnx(model: Any, path: Path, example: Any, *, opset: int | None = None) -> list[str]:
    """Export an :class:`OutputWrapper` to ``path`` with a dynamic batch; its output names."""
    names = list(model.names)
    quiet = io.StringIO()
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # notes about torchvision ops this model does not use
    try:
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # upstream deprecation notices inside the exporter
            _export(model, path, example, names, opset)
    finally:
        onnx_log.setLevel(level)
    return names


def _export(model: Any, path: Path, example: Any, names: list[str], opset: int | None) -> None:
    import torch

    try:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=True,
            input_names=["input"],
            output_names=names,
            dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1)}},
            external_data=False,
            opset_version=opset,
            verbose=False,
        )
    except Exception as exc:  # the exporter raises many untyped errors on unsupported models
        raise InvalidInput(f"the model cannot be exported to ONNX: {str(exc)[:400]}") from exc


def check_onnx(path: Path) -> Any:
    """``onnx.checker`` on the file; returns the loaded ``ModelProto``."""
    import onnx

    try:
        proto = onnx.load(str(path))
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # onnx raises several untyped errors on malformed files
        raise InvalidInput(f"{path.name} is not a valid ONNX model: {str(exc)[:300]}") from exc
    return proto


def signature_from_graph(
    proto: Any, *, task: str = "other", classes: tuple[str, ...] = ()
) -> Signature:
    """A signature read from an ONNX graph's inputs and outputs (free dims become -1)."""

    def spec(value: Any) -> TensorSpec:
        tensor = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        return TensorSpec(value.name, _ONNX_DTYPES.get(tensor.elem_type, "float32"), dims or (-1,))

    outputs = tuple(spec(o) for o in proto.graph.output if o.name != "embedding")
    probs = "probabilities" if any(o.name == "probabilities" for o in outputs) else None
    return Signature(
        inputs=tuple(spec(i) for i in proto.graph.input),
        outputs=outputs,
        task="classification" if probs and task == "other" else task,
        classes=classes,
        probabilities=probs,
    )


def _graph_meta(proto: Any) -> dict[str, Any]:
    return {
        "opset": max(
            (o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0
        ),
        "ir_version": int(proto.ir_version),
        "inputs": [i.name for i in proto.graph.input],
        "outputs": [o.name for o in proto.graph.output],
        "embedding": any(o.name == "embedding" for o in proto.graph.output),
    }


class OnnxFormat(ModelFormat):
    """``model.onnx`` from a ``torch.nn.Module`` or from an existing ``.onnx`` file.

    Options:
        opset: Opset to export with (default: the exporter's).
        atol: Parity tolerance against PyTorch on the example batch (default 1e-4).
        parity_data: Rows to check parity on (default the example batch).
        task / classes: For the inferred signature when none is given.
    """

    name = "onnx"
    filename = "model.onnx"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / self.filename
        parity: ParityReport | None = None
        if isinstance(obj, (str, Path)):
            source = Path(obj)
            if not source.is_file():
                raise InvalidInput(f"no ONNX file at {source}")
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            proto = check_onnx(target)
            sig = signature or signature_from_graph(
                proto,
                task=options.get("task", "other"),
                classes=tuple(options.get("classes") or ()),
            )
        else:
            from stackml.registry.formats._torch_wrap import OutputWrapper, example_tensor
            from stackml.registry.formats.torch_formats import _require_module, _signature

            model = _require_module(obj)
            sig = _signature(model, signature, example, options)
            wrapper = OutputWrapper(model, classification=sig.task == "classification").eval()
            export_onnx(wrapper, target, example_tensor(example, sig), opset=options.get("opset"))
            proto = check_onnx(target)
            rows = options.get("parity_data", example)
            if rows is not None:
                atol = float(options.get("atol", 1e-4))
                parity = check_parity(model, OnnxPredictor(target, sig), rows, atol=atol)
                if not parity.passed:
                    raise InvalidInput(
                        f"ONNX Runtime differs from PyTorch by {parity.max_abs_diff:.2e} "
                        f"(tolerance {atol:.0e}); the export is not faithful"
                    )
        meta = _graph_meta(proto)
        meta["signature"] = sig.to_dict()
        if parity is not None:
            meta["parity"] = {"max_abs_diff": parity.max_abs_diff, "agreement": parity.agreement}
        meta["hashes"] = file_hashes(dest_dir, (self.filename,))
        return ModelFiles(format=self.name, files=(self.filename,), meta=meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> OnnxPredictor:
        verify_files(model_dir, meta)
        return OnnxPredictor(
            safe_file(model_dir, self.filename),
            signature,
            threads=kwargs.get("threads"),
            size_bytes=total_size(model_dir, meta) or None,
            name=kwargs.get("name", ""),
            version=kwargs.get("version", 0),
        )


def convert_to_ort(onnx_path: Path, out: Path) -> None:
    """Write ONNX Runtime's ``.ort`` form of ``onnx_path``, as
    ``onnxruntime.tools.convert_onnx_models_to_ort`` does (fixed optimisations, without the
    x86-only NCHWc layout so the file runs on ARM phones too)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(out)
    options.add_session_config_entry("session.save_model_format", "ORT")
    options.log_severity_level = 3
    ort.InferenceSession(
        str(onnx_path),
        sess_options=options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=["NchwcTransformer"],
    )


class OrtFormat(ModelFormat):
    """``model.ort`` for ONNX Runtime Mobile, converted from a model or an ``.onnx`` file."""

    name = "ort"
    filename = "model.ort"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        with tempfile.TemporaryDirectory(prefix="stackml-ort-") as tmp:
            onnx_files = OnnxFormat().save(
                obj, Path(tmp), signature=signature, example=example, **options
            )
            dest_dir.mkdir(parents=True, exist_ok=True)
            convert_to_ort(Path(tmp) / OnnxFormat.filename, dest_dir / self.filename)
        meta = {k: v for k, v in onnx_files.meta.items() if k != "hashes"}
        meta["hashes"] = file_hashes(dest_dir, (self.filename,))
        return ModelFiles(format=self.name, files=(self.filename,), meta=meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> OnnxPredictor:
        verify_files(model_dir, meta)
        return OnnxPredictor(
            safe_file(model_dir, self.filename),
            signature,
            threads=kwargs.get("threads"),
            size_bytes=total_size(model_dir, meta) or None,
            name=kwargs.get("name", ""),
            version=kwargs.get("version", 0),
        )
