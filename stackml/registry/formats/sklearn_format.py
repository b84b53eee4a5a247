"""scikit-learn through skl2onnx (``sklearn-onnx``), and ``pickle``, loaded only with trust.

``sklearn-onnx`` converts a fitted estimator or pipeline to ``model.onnx`` with one float input
``input`` of shape ``(N, F)``; classifiers get ``label`` and ``probabilities`` outputs (no
ZipMap, so probabilities are a plain ``(N, C)`` tensor).

``pickle`` writes ``model.pkl``. Unpickling runs code chosen by whoever wrote the file, so
:meth:`PickleFormat.load` raises :class:`~stackml.registry.formats._base.UntrustedModel`
before reading a byte unless the caller passes ``trust=True``.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import (
    ModelFiles,
    ModelFormat,
    UntrustedModel,
    file_hashes,
    prepare_feeds,
    safe_file,
    total_size,
    verify_files,
)
from stackml.registry.formats.onnx_format import OnnxFormat, check_onnx
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature, TensorSpec

__all__ = ["PickleFormat", "PythonPredictor", "SklearnOnnxFormat", "infer_sklearn_signature"]


def infer_sklearn_signature(
    model: Any, example: np.ndarray, *, input_name: str = "input"
) -> Signature:
    """Signature of a fitted scikit-learn estimator: classifier or regressor."""
    example = np.asarray(example)
    if example.ndim != 2:
        raise InvalidInput("scikit-learn models take a 2-D (rows, features) example")
    inputs = (TensorSpec(input_name, "float32", (-1, int(example.shape[1]))),)
    classes = getattr(model, "classes_", None)
    if classes is not None and hasattr(model, "predict_proba"):
        label_dtype = "int64" if np.asarray(classes).dtype.kind in "iub" else "str"
        return Signature(
            inputs=inputs,
            outputs=(
                TensorSpec("label", label_dtype, (-1,)),
                TensorSpec("probabilities", "float32", (-1, len(classes))),
            ),
            task="classification",
            classes=tuple(str(c) for c in classes),
            probabilities="probabilities",
        )
    return Signature(
        inputs=inputs, outputs=(TensorSpec("variable", "float32", (-1, 1)),), task="regression"
    )


class SklearnOnnxFormat(ModelFormat):
    """A fitted scikit-learn model converted by skl2onnx to ``model.onnx``.

    Options:
        target_opset: ONNX opset for the converter (default: skl2onnx's).
    """

    name = "sklearn-onnx"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        try:
            from skl2onnx import convert_sklearn
            from skl2onnx.common.data_types import FloatTensorType
        except ImportError as exc:
            raise InvalidInput(
                "the sklearn-onnx format needs skl2onnx: pip install skl2onnx"
            ) from exc

        if signature is None:
            if example is None:
                raise InvalidInput("give a signature or an example batch to infer one from")
            signature = infer_sklearn_signature(obj, example)
        spec = signature.input()
        n_features = spec.shape[1] if len(spec.shape) == 2 else None
        if not n_features or n_features < 1:
            raise InvalidInput("scikit-learn models need a (N, F) input with a fixed F")
        is_classifier = signature.task == "classification"
        conv_options = {id(obj): {"zipmap": False}} if is_classifier else None
        try:
            proto = convert_sklearn(
                obj,
                initial_types=[(spec.name, FloatTensorType([None, n_features]))],
                options=conv_options,
                target_opset=options.get("target_opset"),
            )
        except Exception as exc:  # skl2onnx raises bare RuntimeErrors for unsupported models
            raise InvalidInput(f"skl2onnx cannot convert {type(obj).__name__}: {exc}") from exc
        if is_classifier:
            # skl2onnx names its outputs output_label / output_probability; use ours.
            renames = {"output_label": "label", "output_probability": "probabilities"}
            for node in proto.graph.node:
                node.output[:] = [renames.get(o, o) for o in node.output]
            for out in proto.graph.output:
                out.name = renames.get(out.name, out.name)
        dest_dir.mkdir(parents=True, exist_ok=True)
        (dest_dir / OnnxFormat.filename).write_bytes(proto.SerializeToString())
        checked = check_onnx(dest_dir / OnnxFormat.filename)
        meta = {
            "estimator": f"{type(obj).__module__}.{type(obj).__qualname__}",
            "inputs": [i.name for i in checked.graph.input],
            "outputs": [o.name for o in checked.graph.output],
            "signature": signature.to_dict(),
            "hashes": file_hashes(dest_dir, (OnnxFormat.filename,)),
        }
        return ModelFiles(format=self.name, files=(OnnxFormat.filename,), meta=meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> Predictor:
        return OnnxFormat().load(model_dir, meta, signature, **kwargs)


class PythonPredictor(Predictor):
    """Calls an unpickled scikit-learn-like object (``predict``/``predict_proba``) in-process."""

    runtime = "python"

    def __init__(self, model: Any, signature: Signature, *, size_bytes: int = 0, **kwargs: Any):
        super().__init__(signature, name=kwargs.get("name", ""), version=kwargs.get("version", 0))
        self.model = model
        self.size_bytes = size_bytes

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``label`` and ``probabilities`` for a classifier, ``variable`` otherwise."""
        x = prepare_feeds(self.signature, inputs)[self.signature.input().name]
        if self.signature.task == "classification" and hasattr(self.model, "predict_proba"):
            probs = np.asarray(self.model.predict_proba(x), dtype=np.float32)
            labels = np.asarray(self.model.classes_)[probs.argmax(axis=1)]
            return {"label": labels, "probabilities": probs}
        return {"variable": np.asarray(self.model.predict(x), dtype=np.float32).reshape(len(x), -1)}


class PickleFormat(ModelFormat):
    """``model.pkl``: any picklable model. Saving is free; loading needs ``trust=True``."""

    name = "pickle"
    needs_trust = True
    filename = "model.pkl"

    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        kind = "sklearn"
        try:
            import torch

            if isinstance(obj, torch.nn.Module):
                kind = "torch"
        except ImportError:  # torch is optional: without it nothing is a torch model
            pass
        if signature is None and example is not None:
            if kind == "torch":
                from stackml.registry.formats._torch_wrap import infer_signature

                signature = infer_signature(
                    obj, example, task=options.get("task"), classes=options.get("classes")
                )
            else:
                signature = infer_sklearn_signature(obj, example)
        dest_dir.mkdir(parents=True, exist_ok=True)
        with open(dest_dir / self.filename, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        meta: dict[str, Any] = {"kind": kind}
        if signature is not None:
            meta["signature"] = signature.to_dict()
        meta["hashes"] = file_hashes(dest_dir, (self.filename,))
        return ModelFiles(format=self.name, files=(self.filename,), meta=meta)

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> Predictor:
        if not kwargs.get("trust"):
            raise UntrustedModel(
                "this model is a pickle: loading it runs code chosen by whoever wrote it. Load "
                "it with trust=True (--trust) only if you trust its origin, or re-export it "
                "to onnx, sklearn-onnx or safetensors"
            )
        verify_files(model_dir, meta)
        with open(safe_file(model_dir, self.filename), "rb") as fh:
            model = pickle.load(fh)
        size = total_size(model_dir, meta)
        if meta.get("kind") == "torch":
            from stackml.registry.formats._torch_wrap import OutputWrapper
            from stackml.registry.torch_runtime import TorchPredictor

            wrapper = OutputWrapper(model, classification=signature.task == "classification")
            return TorchPredictor(
                wrapper,
                signature,
                output_names=wrapper.names,
                size_bytes=size,
                name=kwargs.get("name", ""),
                version=kwargs.get("version", 0),
            )
        return PythonPredictor(model, signature, size_bytes=size, **kwargs)
