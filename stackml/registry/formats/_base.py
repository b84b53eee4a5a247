"""What every model format shares: :class:`ModelFiles`, the :class:`ModelFormat` base, the
table of formats, file hashes checked on load, and batch feeding for predictors."""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml._internal.hashing import hash_file
from stackml._internal.names import InvalidName, validate_relative_path
from stackml.errors import IntegrityError, InvalidInput, NotFound

if TYPE_CHECKING:
    from stackml.registry.runtime import Predictor
    from stackml.registry.signature import Signature

__all__ = [
    "FORMATS",
    "ModelFiles",
    "ModelFormat",
    "UntrustedModel",
    "format_handler",
    "prepare_feeds",
    "verify_files",
]


class UntrustedModel(InvalidInput):
    """Loading this model would run code from its files (pickle): pass ``trust=True``."""


@dataclass(frozen=True)
class ModelFiles:
    """Files one format wrote into a model folder.

    Attributes:
        format: Format name (``"onnx"``, ``"safetensors"``...).
        files: Paths relative to the folder, the main file first.
        meta: JSON-able facts the loader needs (class reference, opset, input and output
            names, ``hashes``: file → BLAKE3, checked again on load).
    """

    format: str
    files: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def size_bytes(self, model_dir: Path) -> int:
        """Total size of the files in ``model_dir``."""
        return sum((Path(model_dir) / f).stat().st_size for f in self.files)


class ModelFormat(abc.ABC):
    """One way to write a model to files and read it back as a :class:`Predictor`.

    Implementations are stateless; ``save`` writes only inside ``dest_dir`` and ``load`` reads
    only the files ``save`` listed. ``load`` never runs code stored in the files unless the
    format says so and the caller passed ``trust=True``.
    """

    name: str = ""
    #: Whether loading runs arbitrary code from the files (only pickle does).
    needs_trust: bool = False

    @abc.abstractmethod
    def save(
        self,
        obj: Any,
        dest_dir: Path,
        *,
        signature: Signature | None,
        example: np.ndarray | None,
        **options: Any,
    ) -> ModelFiles:
        """Write ``obj`` into ``dest_dir`` and describe the files."""

    @abc.abstractmethod
    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> Predictor:
        """Read the files back as a predictor (``kwargs``: ``name``, ``version``)."""


#: Format name → ``module:attribute`` of its :class:`ModelFormat`; imported on first use so
#: ``import stackml.registry`` stays light (no torch, no onnx).
FORMATS: dict[str, str] = {
    "safetensors": "stackml.registry.formats.torch_formats:SafetensorsFormat",
    "torchscript": "stackml.registry.formats.torch_formats:TorchScriptFormat",
    "torch-export": "stackml.registry.formats.torch_formats:TorchExportFormat",
    "onnx": "stackml.registry.formats.onnx_format:OnnxFormat",
    "ort": "stackml.registry.formats.onnx_format:OrtFormat",
    "sklearn-onnx": "stackml.registry.formats.sklearn_format:SklearnOnnxFormat",
    "pickle": "stackml.registry.formats.sklearn_format:PickleFormat",
    "executorch": "stackml.registry.formats.mobile:ExecuTorchFormat",
    "coreml": "stackml.registry.formats.mobile:CoreMLFormat",
}


def format_handler(name: str) -> ModelFormat:
    """The :class:`ModelFormat` called ``name``; ``InvalidInput`` listing the known ones."""
    target = FORMATS.get(str(name))
    if target is None:
        raise InvalidInput(f"unknown model format {name!r}; known formats: {', '.join(FORMATS)}")
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    handler: ModelFormat = cls()
    return handler


def file_hashes(model_dir: Path, files: tuple[str, ...]) -> dict[str, str]:
    """BLAKE3 of each file, recorded in ``meta["hashes"]`` at save time."""
    return {f: hash_file(Path(model_dir) / f) for f in files}


def safe_file(model_dir: Path, relative: str) -> Path:
    """``model_dir / relative`` after checking ``relative`` stays inside the folder."""
    try:
        validate_relative_path(relative, what="model file")
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc
    path = Path(model_dir) / relative
    if not path.is_file():
        raise NotFound(f"model file {relative!r} is missing from {model_dir}")
    return path


def verify_files(model_dir: Path, meta: Mapping[str, Any]) -> None:
    """Re-hash every file named in ``meta["hashes"]``; ``IntegrityError`` on a mismatch."""
    for relative, expected in dict(meta.get("hashes", {})).items():
        actual = hash_file(safe_file(model_dir, relative))
        if actual != expected:
            raise IntegrityError(
                f"model file {relative!r} does not match its recorded hash "
                f"(expected {expected[:12]}..., got {actual[:12]}...): the file was changed "
                "or corrupted after it was saved; re-export or re-register the model"
            )


def prepare_feeds(
    signature: Signature, inputs: np.ndarray | Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Check ``inputs`` against the signature and cast each to its declared dtype.

    A bare array feeds the only input. Raises ``InvalidInput`` naming the problem.
    """
    given = dict(inputs) if isinstance(inputs, Mapping) else {signature.input().name: inputs}
    feeds: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        if spec.name not in given:
            raise InvalidInput(f"missing input {spec.name!r}")
        array = np.asarray(given.pop(spec.name))
        if array.dtype == object:
            raise InvalidInput(f"input {spec.name!r}: expected {spec.dtype} numbers")
        spec.check(array)
        feeds[spec.name] = np.ascontiguousarray(array, dtype=np.dtype(spec.dtype))
    if given:
        raise InvalidInput(f"unknown inputs {sorted(given)}; the model takes {_names(signature)}")
    return feeds


def _names(signature: Signature) -> list[str]:
    return [t.name for t in signature.inputs]


def total_size(model_dir: Path, meta: Mapping[str, Any]) -> int:
    """Bytes of the files a format wrote (those listed in ``meta["hashes"]``)."""
    return sum((Path(model_dir) / f).stat().st_size for f in dict(meta.get("hashes", {})))
