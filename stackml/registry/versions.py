"""Registering model versions from run artifacts, and logging models as run artifacts.

:func:`register` creates a version from files a run already holds; it snapshots the run's
metrics, records the dataset versions and code commit it came from, derives the signature
from the dataset schema where none is given, and draws the lineage edges
``run → version``, ``dataset version → version`` and, for derived versions (compression),
``source version → version``. :func:`log_model` saves a model object with a format of
:mod:`stackml.registry.formats` into a run's artifacts (and can register it at once).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.registry.derive import dataset_schemas, enrich_signature, signature_from_dataset
from stackml.registry.refs import Source, parse_ref, parse_source, resolve, version_ref
from stackml.registry.signature import Signature, TensorSpec
from stackml.store.entities import Artifact, LineageEdge
from stackml.store.registry_base import ModelFile, ModelVersion, ModelVersionDraft

if TYPE_CHECKING:
    import numpy as np

    from stackml.store import Store
    from stackml.tracking.run import ActiveRun

__all__ = [
    "DESCRIPTOR",
    "LoggedModel",
    "add_version_lineage",
    "get_store",
    "log_model",
    "register",
]

#: The small JSON file :func:`log_model` writes beside a model's files: format, format
#: metadata and signature, so ``register`` needs nothing but the source.
DESCRIPTOR = "stackml-model.json"
ENTITY = "model_version"
#: Lineage roles of a version's edges.
PRODUCED_BY, TRAINED_ON = "output", "trained_on"
COMMIT_TAG = "stackml.git.commit"


def get_store(store: Store | None = None) -> Store:
    """``store``, or the configured store of the tracking SDK."""
    if store is not None:
        return store
    from stackml.tracking.api import get_store as tracking_store

    return tracking_store()


def _files(store: Store, source: Source) -> list[Artifact]:
    meta = store.metadata
    meta.get_run(source.run_id)  # NotFound for an unknown run
    try:
        return [meta.get_artifact(source.run_id, source.artifact_path)]
    except NotFound:
        pass
    found = [
        a
        for a in meta.list_artifacts(source.run_id, prefix=source.artifact_path)
        if a.path.startswith(source.artifact_path + "/")
    ]
    if not found:
        raise InvalidInput(
            f"{source.artifact_path!r} is not an artifact of run {source.run_id}: a model "
            "version's source must lie inside its run's artifacts (log the files with "
            "run.log_artifact or stackml.registry.log_model first)"
        )
    return found


def _descriptor(store: Store, files: list[Artifact], root: str) -> dict[str, Any]:
    for item in files:
        if item.path in (f"{root}/{DESCRIPTOR}", root) and item.path.endswith(DESCRIPTOR):
            try:
                data = json.loads(store.blobs.get_bytes(item.blob_hash))
            except ValueError as error:
                raise InvalidInput(f"{item.path}: not a JSON model descriptor") from error
            return dict(data) if isinstance(data, Mapping) else {}
    return {}


def _signature(value: Signature | Mapping[str, Any] | None) -> Signature | None:
    if value is None or isinstance(value, Signature):
        return value
    if isinstance(value, Mapping):
        try:
            return Signature.from_dict(value)
        except (KeyError, TypeError) as error:
            raise InvalidInput(f"malformed signature: {error}") from error
    raise InvalidInput("signature must be a Signature or its dict form")


def _dataset_inputs(store: Store, run_id: str) -> list[str]:
    edges = store.metadata.list_lineage("run", run_id, direction="upstream")
    return sorted({e.source_id for e in edges if e.source_type == "dataset_version"})


def _dataset_signature(store: Store, refs: list[str]) -> Signature | None:
    for schema in dataset_schemas(store.metadata, refs):
        derived = signature_from_dataset(schema)
        if derived is not None:
            return derived
    return None


def register(
    name: str,
    *,
    run_id: str | None = None,
    artifact_path: str | None = None,
    source: str | None = None,
    format: str | None = None,
    signature: Signature | Mapping[str, Any] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    metrics: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
    source_version: str | None = None,
    relation: str = "compressed_from",
    author: str | None = None,
    store: Store | None = None,
) -> ModelVersion:
    """Register the files at a run's artifact path as the next version of model ``name``.

    Args:
        name: The registered model (created on first registration).
        run_id, artifact_path: Where the files are: an artifact (or artifact folder) of run
            ``run_id``. Alternatively ``source="runs:/<run_id>/<path>"``.
        format: Format of the files (see :mod:`stackml.registry.formats`); read from the
            descriptor :func:`log_model` writes when left out.
        signature: Inputs and outputs; by default the descriptor's, else derived from the
            schema of the dataset version the run trained on, enriched with its classes.
        metrics: Added to (and overriding) the snapshot of the run's latest metrics.
        meta: Format metadata the loader needs (default: the descriptor's).
        source_version: ``NAME@N`` this version derives from; draws a ``relation`` edge
            (``compressed_from`` by default).

    Raises:
        InvalidInput: The source is not inside the run's artifacts (``file://`` URIs, local
            or ``..`` paths, encoded variants, another run's artifacts), or no signature can
            be found.
        NotFound: The run or the source version does not exist.
    """
    from stackml.tracking.api import flush

    store = get_store(store)
    checked = parse_source(source, run_id=run_id, artifact_path=artifact_path)
    flush()  # metrics this process logged belong in the snapshot
    run = store.metadata.get_run(checked.run_id)
    files = _files(store, checked)
    described = _descriptor(store, files, checked.artifact_path)
    fmt = format or described.get("format")
    if not fmt:
        raise InvalidInput("name the model's format (format='onnx', ...): no descriptor says it")
    datasets = _dataset_inputs(store, run.id)
    from_dataset = _dataset_signature(store, datasets)
    sig = _signature(signature) or _signature(described.get("signature")) or from_dataset
    if sig is None:
        raise InvalidInput(
            "no signature: pass signature=..., log the model with an example, or train on a "
            "dataset version with a schema"
        )
    sig = enrich_signature(sig, from_dataset)
    source_ref = None
    if source_version is not None:
        source_ref = version_ref(*resolve(source_version, store.metadata))
    snapshot = {k: s.latest for k, s in run.metrics.items()}
    snapshot.update(dict(metrics or {}))
    draft = ModelVersionDraft(
        model=name,
        run_id=run.id,
        artifact_path=checked.artifact_path,
        format=str(fmt),
        files=tuple(ModelFile(a.path, a.blob_hash, a.size) for a in files),
        signature=sig.to_dict(),
        metrics=snapshot,
        meta=dict(meta if meta is not None else described.get("meta", {})),
        description=description,
        tags=dict(tags or {}),
        author=author or run.user or "",
        code_commit=run.tags.get(COMMIT_TAG),
        dataset_versions=tuple(datasets),
        source_version=source_ref,
        created_at=now_ms(),
    )
    version = store.metadata.create_model_version(draft)
    _edges(store, version, datasets, source_ref, relation)
    return version


def _edges(
    store: Store, version: ModelVersion, datasets: list[str], source: str | None, relation: str
) -> None:
    edges = [LineageEdge("run", version.run_id, ENTITY, version.ref, PRODUCED_BY, 0, {})]
    edges += [
        LineageEdge("dataset_version", d, ENTITY, version.ref, TRAINED_ON, 0, {}) for d in datasets
    ]
    if source is not None:
        edges.append(LineageEdge(ENTITY, source, ENTITY, version.ref, relation, 0, {}))
    for edge in edges:
        store.metadata.add_lineage(edge)


def add_version_lineage(
    version: str,
    source: str,
    *,
    relation: str = "compressed_from",
    properties: Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> LineageEdge:
    """Record that model version ``version`` derives from ``source`` (both ``NAME@N`` refs).

    Compression, distillation and fine-tuning draw this edge; the version page lists the
    versions derived from it (``compressed_from``) as its compression variants.
    """
    store = get_store(store)
    target = version_ref(*resolve(parse_ref(version), store.metadata))
    origin = version_ref(*resolve(parse_ref(source), store.metadata))
    edge = LineageEdge(ENTITY, origin, ENTITY, target, relation, 0, dict(properties or {}))
    return store.metadata.add_lineage(edge)


@dataclass(frozen=True)
class LoggedModel:
    """A model saved into a run's artifacts, and its registered version if one was made."""

    run_id: str
    artifact_path: str
    format: str
    files: tuple[str, ...]
    version: ModelVersion | None = None

    @property
    def source(self) -> str:
        """``runs:/<run_id>/<artifact_path>``, what :func:`register` takes."""
        return Source(self.run_id, self.artifact_path).uri


def _example_signature(example: np.ndarray) -> Signature:
    shape = (-1, *(int(d) for d in example.shape[1:]))
    return Signature(inputs=(TensorSpec("input", str(example.dtype), shape),), outputs=())


def log_model(
    run: ActiveRun,
    model: Any,
    path: str = "model",
    *,
    format: str,
    signature: Signature | Mapping[str, Any] | None = None,
    example: np.ndarray | None = None,
    register_as: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    **options: Any,
) -> LoggedModel:
    """Save ``model`` with ``format`` into run artifacts under ``path``; optionally register it.

    The signature is ``signature``, else the one the format infers from ``example`` (a batch
    of real inputs; formats that trace need one anyway), else derived from the dataset
    version the run used. The dataset adds classes and the feature schema in every case.
    Files and a descriptor (:data:`DESCRIPTOR`) are logged as run artifacts under ``path``.
    """
    from stackml.registry.formats import save_model

    store = run.store
    from_dataset = _dataset_signature(store, _dataset_inputs(store, run.id))
    sig = _signature(signature)
    if sig is None and example is None:
        sig = from_dataset
    with tempfile.TemporaryDirectory(prefix="stackml-model-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        saved = save_model(model, folder, format=format, signature=sig, example=example, **options)
        meta = dict(saved.meta)
        if isinstance(meta.get("signature"), Mapping):
            sig = _signature(meta["signature"])
        if sig is None and example is not None:
            sig = _example_signature(example)
        if sig is None:
            raise InvalidInput("no signature: pass signature=... or an example batch")
        sig = enrich_signature(sig, from_dataset)
        descriptor = {"format": saved.format, "meta": meta, "signature": sig.to_dict()}
        (folder / DESCRIPTOR).write_text(json.dumps(descriptor, indent=2, sort_keys=True))
        run.log_artifact(folder, path)
    logged = LoggedModel(run.id, path, saved.format, tuple(saved.files))
    if register_as is None:
        return logged
    version = register(
        register_as,
        run_id=run.id,
        artifact_path=path,
        description=description,
        tags=tags,
        store=store,
    )
    return LoggedModel(run.id, path, saved.format, tuple(saved.files), version)
