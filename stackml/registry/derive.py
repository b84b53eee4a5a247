"""Deriving a model's signature from the dataset version it was trained on.

A dataset version keeps its schema (column types and statistics), which columns are the
label, the key and the file paths, and image statistics where it references images. From
that:

* a **table** gives one record input ``features`` of shape ``(-1, F)`` over its feature
  columns (every column but the label, key, path and split columns), and ``input_schema``
  holds those columns with their statistics, so serving and drift use the same schema;
* **images** of one shape ``(H, W)`` or ``(H, W, C)`` give an input ``input`` of shape
  ``(-1, 1, H, W)`` or ``(-1, C, H, W)`` (channels first, as PyTorch models take them);
* a categorical or integer **label** with a known domain makes the model a classifier: output
  ``logits`` ``(-1, C)``, ``classes`` in the domain's order. Without a label the output is
  ``output`` with a free width.

When a model's own signature is known (the format derived it from an example), the dataset
adds what the model cannot know: ``classes``, ``task`` and ``input_schema``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stackml.data.schema import Schema
from stackml.registry.signature import Signature, TensorSpec

if TYPE_CHECKING:
    from stackml.store.base import MetadataStore

__all__ = ["dataset_schemas", "enrich_signature", "signature_from_dataset"]

_NOT_FEATURES = ("label", "key", "path_column")
_SPLIT_COLUMN = "split"


def _classes(schema: Schema, label: str | None) -> tuple[str, ...]:
    if not label or label not in schema.names:
        return ()
    column = schema.column(label)
    domain = [str(v) for v in column.domain]
    if domain:
        # Index i of the output is the i-th label in sorted order (what label encoders do).
        numeric = all(v.lstrip("-").isdigit() for v in domain)
        return tuple(sorted(domain, key=int) if numeric else sorted(domain))
    stats = column.stats
    if stats is not None and column.type == "int" and stats.min is not None:
        low, high = int(stats.min), int(stats.max)  # type: ignore[arg-type]
        if low >= 0 and high - low < 1000:
            return tuple(str(v) for v in range(low, high + 1))
    return ()


def signature_from_dataset(schema_json: Mapping[str, Any]) -> Signature | None:
    """The signature a dataset version's schema implies, or ``None`` when it says too little."""
    if not schema_json or not schema_json.get("columns"):
        return None
    schema = Schema.from_dict(schema_json)
    label = schema_json.get("label")
    classes = _classes(schema, label)
    skip = {schema_json.get(k) for k in _NOT_FEATURES} | {_SPLIT_COLUMN}
    if schema.images is not None and schema.images.shapes:
        shapes = schema.images.shapes
        dims = [int(d) for d in max(shapes, key=lambda s: shapes[s]).split("x") if d.isdigit()]
        if len(dims) == 2:
            shape = (-1, 1, dims[0], dims[1])
        elif len(dims) == 3:
            shape = (-1, dims[2], dims[0], dims[1])
        else:
            return None
        inputs = (TensorSpec("input", "float32", shape),)
        input_schema = None
    else:
        features = tuple(
            c for c in schema.columns if c.name not in skip and c.type in ("int", "float", "bool")
        )
        if not features:
            return None
        inputs = (TensorSpec("features", "float32", (-1, len(features))),)
        input_schema = Schema(features, schema.num_rows)
    if classes:
        outputs = (TensorSpec("logits", "float32", (-1, len(classes))),)
        task, probabilities = "classification", None
    else:
        outputs = (TensorSpec("output", "float32", (-1, -1)),)
        task, probabilities = "other", None
    return Signature(
        inputs=inputs,
        outputs=outputs,
        task=task,
        classes=classes,
        probabilities=probabilities,
        input_schema=input_schema,
        extra={"derived_from": "dataset schema", "label": label} if label else {},
    )


def enrich_signature(model: Signature, dataset: Signature | None) -> Signature:
    """``model``'s tensors with the dataset's classes, task and feature schema added."""
    if dataset is None:
        return model
    changes: dict[str, Any] = {}
    width = model.outputs[0].shape[-1] if model.outputs else -1
    if not model.classes and dataset.classes and width in (-1, len(dataset.classes)):
        changes["classes"] = dataset.classes
        if model.task == "other":
            changes["task"] = "classification"
    features = model.inputs[0].shape[-1] if len(model.inputs) == 1 else None
    if (
        model.input_schema is None
        and dataset.input_schema is not None
        and features == len(dataset.input_schema.columns)
    ):
        changes["input_schema"] = dataset.input_schema
    return replace(model, **changes) if changes else model


def dataset_schemas(store: MetadataStore, refs: list[str]) -> list[Mapping[str, Any]]:
    """Schemas of the dataset versions (``name@id`` refs) the store still knows."""
    from stackml.errors import StackmlError

    found = []
    for ref in refs:
        name, _, version = ref.partition("@")
        try:
            found.append(store.get_dataset_version(name, version or "latest").schema)
        except StackmlError:
            continue
    return found
