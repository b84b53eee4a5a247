"""Registered versions in, registered versions out: :func:`export` and the plumbing that
:mod:`stackml.registry.compression` shares with it.

A derived version (an export to another format, a quantized or pruned copy, a distilled
student) is made by a small tracked run in the source run's project: the new files are logged
as that run's artifacts and registered as the next version of the same model, with a lineage
edge ``source version → new version`` (``exported_from`` or ``compressed_from``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import ModelFiles, safe_file
from stackml.registry.signature import Signature

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.registry_base import ModelVersion

__all__ = ["derive_version", "export", "export_files", "onnx_file", "source_files", "torch_model"]

TORCH_SOURCES = ("safetensors", "pickle")
ONNX_SOURCES = ("onnx", "sklearn-onnx")


@contextlib.contextmanager
def source_files(
    ref: str, store: Store | None = None
) -> Iterator[tuple[Store, ModelVersion, Path]]:
    """The version ``ref`` names and a temporary folder holding its verified files."""
    from stackml.registry.loading import download_version, get_version
    from stackml.registry.versions import get_store

    store = get_store(store)
    version = get_version(ref, store=store)
    with tempfile.TemporaryDirectory(prefix="stackml-derive-") as tmp:
        yield store, version, download_version(store, version, Path(tmp) / "source")


def torch_model(version: ModelVersion, folder: Path, *, trust: bool = False) -> Any:
    """The ``torch.nn.Module`` of a PyTorch version (safetensors; pickle with trust)."""
    from stackml.registry.formats import load_predictor

    if version.format not in TORCH_SOURCES:
        raise InvalidInput(
            f"{version.ref} is a {version.format} model: this needs the PyTorch model, so use "
            f"a version in one of {', '.join(TORCH_SOURCES)}"
        )
    predictor: Any = load_predictor(
        version.format,
        folder,
        dict(version.meta),
        Signature.from_dict(version.signature),
        trust=trust,
    )
    module = predictor.module
    return getattr(module, "model", module)  # the output wrapper holds the user's model


def onnx_file(version: ModelVersion, folder: Path) -> Path:
    """The ``model.onnx`` of an ONNX version."""
    if version.format not in ONNX_SOURCES:
        raise InvalidInput(
            f"{version.ref} is a {version.format} model; int8 quantization works on ONNX: "
            f"export it first (stackml models export {version.ref} --format onnx)"
        )
    return safe_file(folder, "model.onnx")


def derive_version(
    store: Store,
    source: ModelVersion,
    obj: Any,
    *,
    format: str,
    relation: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    signature: Signature | None = None,
    example: np.ndarray | None = None,
    description: str = "",
    **options: Any,
) -> ModelVersion:
    """Log ``obj`` in a new tracked run and register it as the next version of the model."""
    from stackml.registry.versions import log_model, register
    from stackml.tracking import api
    from stackml.tracking.run import ActiveRun

    project = store.metadata.get_run(source.run_id).project
    info = store.metadata.create_run(
        project,
        name=f"{relation.replace('_', ' ')} {source.ref}",
        params={k: str(v) for k, v in params.items()},
        tags={"stackml.registry.derived_from": source.ref, "stackml.registry.relation": relation},
    )
    run = ActiveRun(store, api.writer_for(store), info)
    sig = signature or Signature.from_dict(source.signature)
    try:
        log_model(run, obj, "model", format=format, signature=sig, example=example, **options)
        if metrics:
            run.log_metrics(dict(metrics))
        run.finish("completed")
    except BaseException:
        run.finish("failed")
        raise
    return register(
        source.model,
        run_id=run.id,
        artifact_path="model",
        signature=sig,
        metrics=dict(metrics or {}),
        description=description or f"{relation.replace('_', ' ')} {source.ref}",
        tags={"derived": relation, **{k: str(v) for k, v in params.items()}},
        source_version=source.ref,
        relation=relation,
        store=store,
    )


def export(
    ref: str,
    format: str,
    *,
    store: Store | None = None,
    example: np.ndarray | None = None,
    trust: bool = False,
    **options: Any,
) -> ModelVersion:
    """Register ``ref`` converted to ``format`` as a new version (edge ``exported_from``).

    PyTorch versions export to every torch-derived format (``onnx``, ``ort``,
    ``torchscript``, ``torch-export``, ``executorch``, ``coreml``); ONNX versions export to
    ``ort``. ``example`` is a batch to trace with (zeros of the signature's shape otherwise).
    """
    with source_files(ref, store) as (st, version, folder):
        if version.format in ONNX_SOURCES and format == "ort":
            obj: Any = onnx_file(version, folder)
        else:
            obj = torch_model(version, folder, trust=trust)
        return derive_version(
            st,
            version,
            obj,
            format=format,
            relation="exported_from",
            params={"format": format},
            example=example,
            description=f"{format} export of {version.ref}",
            **options,
        )


def export_files(
    ref: str,
    format: str,
    dest: str | Path,
    *,
    store: Store | None = None,
    example: np.ndarray | None = None,
    trust: bool = False,
    **options: Any,
) -> ModelFiles:
    """Write ``ref`` converted to ``format`` into the folder ``dest`` (nothing is registered)."""
    from stackml.registry.formats import save_model

    with source_files(ref, store) as (_, version, folder):
        if version.format in ONNX_SOURCES and format == "ort":
            obj: Any = onnx_file(version, folder)
        else:
            obj = torch_model(version, folder, trust=trust)
        return save_model(
            obj,
            Path(dest),
            format=format,
            signature=Signature.from_dict(version.signature),
            example=example,
            **options,
        )
