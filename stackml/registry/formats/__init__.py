"""Model formats: write a model to files, read files back as a :class:`Predictor`.

* ``safetensors``: ``model.safetensors`` + a class reference; torch; the reference is checked
* ``torchscript``: ``model.torchscript.pt``; torch
* ``torch-export``: ``model.pt2``; torch; loads only with ``trust=True``
* ``onnx``: ``model.onnx`` with a dynamic batch; onnxruntime
* ``ort``: ``model.ort`` (ONNX Runtime Mobile); onnxruntime
* ``sklearn-onnx``: ``model.onnx`` via skl2onnx; onnxruntime
* ``pickle``: ``model.pkl``; python or torch; loads only with ``trust=True``
* ``executorch`` (extra): ``model.pte`` (XNNPACK); ExecuTorch runtime
* ``coreml`` (extra): ``model.mlpackage/...``; conversion only (runs on Apple systems)

Every saved file's BLAKE3 hash is kept in ``meta["hashes"]`` and checked again on load.
See ``docs/export.md`` for the trust model and what each format supports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import (
    FORMATS,
    ModelFiles,
    ModelFormat,
    UntrustedModel,
    format_handler,
    verify_files,
)

if TYPE_CHECKING:
    from stackml.registry.formats.onnx_format import ParityReport
    from stackml.registry.runtime import Predictor
    from stackml.registry.signature import Signature

__all__ = [
    "FORMATS",
    "ModelFiles",
    "ModelFormat",
    "UntrustedModel",
    "check_parity",
    "infer_signature",
    "load_predictor",
    "save_model",
    "verify_files",
]


def save_model(
    obj: Any,
    dest_dir: Path,
    *,
    format: str,
    signature: Signature | None = None,
    example: np.ndarray | None = None,
    **options: Any,
) -> ModelFiles:
    """Write ``obj`` into ``dest_dir`` in ``format``.

    Args:
        obj: A ``torch.nn.Module`` (torch formats, onnx, ort, executorch, coreml), a fitted
            scikit-learn estimator (``sklearn-onnx``), any picklable object (``pickle``), or the
            path of an existing ``.onnx`` file (``onnx``, ``ort``).
        dest_dir: Folder to write into (created if needed).
        format: One of :data:`FORMATS`.
        signature: The model's signature; inferred from ``example`` when omitted.
        example: A batch of real inputs: traced through, and checked for ONNX parity.
        **options: Format options (``factory``/``kwargs`` for safetensors, ``opset``/``atol``
            for onnx, ``task``/``classes`` for signature inference...).

    Returns:
        The files written (relative to ``dest_dir``) and the metadata the loader needs;
        ``meta["signature"]`` holds the signature used.
    """
    handler = format_handler(format)
    return handler.save(obj, Path(dest_dir), signature=signature, example=example, **options)


def load_predictor(
    format: str,
    model_dir: Path,
    meta: dict[str, Any],
    signature: Signature | None = None,
    *,
    trust: bool = False,
    name: str = "",
    version: int = 0,
    threads: int | None = None,
) -> Predictor:
    """Read files written by :func:`save_model` back as a :class:`Predictor`.

    File hashes in ``meta`` are checked first (``IntegrityError`` on a mismatch). Formats
    whose loading can run code from the files (``pickle``, ``torch-export``) raise
    :class:`UntrustedModel` unless ``trust=True``.
    """
    from stackml.registry.signature import Signature as _Signature

    handler = format_handler(format)
    if signature is None:
        if "signature" not in meta:
            raise InvalidInput("no signature given and none recorded with the model files")
        signature = _Signature.from_dict(meta["signature"])
    return handler.load(
        Path(model_dir),
        meta,
        signature,
        trust=trust,
        name=name,
        version=version,
        threads=threads,
    )


def infer_signature(model: Any, example: np.ndarray, **options: Any) -> Signature:
    """Signature of a PyTorch module or a fitted scikit-learn estimator from an example batch.

    For PyTorch, ``task``/``classes`` make it a classifier (``logits`` + ``probabilities``).
    """
    try:
        import torch

        if isinstance(model, torch.nn.Module):
            from stackml.registry.formats._torch_wrap import infer_signature as torch_signature

            return torch_signature(model, example, **options)
    except ImportError:  # torch is optional
        pass
    from stackml.registry.formats.sklearn_format import infer_sklearn_signature

    return infer_sklearn_signature(model, example)


def check_parity(
    reference: Any, candidate: Predictor, data: np.ndarray, **options: Any
) -> ParityReport:
    """Max abs difference and arg-max agreement of ``candidate`` against ``reference``.

    See :func:`stackml.registry.formats.onnx_format.check_parity`.
    """
    from stackml.registry.formats.onnx_format import check_parity as _check

    return _check(reference, candidate, data, **options)
