"""Versioned datasets: files and tables with schema, statistics, validation, splits, lineage.

::

    import stackml.data as sd
    v = sd.add("digits", "images/", table="labels.csv", split={"train": 0.8, "test": 0.2},
               label="label", message="first cut")
    ds = sd.get("digits", "v1")          # or an id, id prefix, or alias such as "latest"
    ds.path, ds.to_pandas(), ds.to_arrow(split="train"), ds.to_torch(split="train")

Every function takes ``store=`` (default: the configured store, as for runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.data.diff import VersionDiff, diff_versions
from stackml.data.expectations import ValidationReport, suggest
from stackml.data.expectations import parse as parse_expectations
from stackml.data.expectations import validate as validate_table
from stackml.data.handle import DatasetHandle
from stackml.data.materialize import materialize
from stackml.data.schema import Column, ColumnStats, Histogram, ImageStats, Schema, infer_schema
from stackml.data.splits import TWO_VALIDATION_SETS, assign_splits
from stackml.data.versions import add_version, author_name, check_dataset_name
from stackml.errors import InvalidInput
from stackml.store.datasets_base import AliasEvent, Dataset, DatasetVersion
from stackml.store.entities import LineageEdge

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = [
    "TWO_VALIDATION_SETS",
    "AliasEvent",
    "Column",
    "ColumnStats",
    "Dataset",
    "DatasetHandle",
    "DatasetVersion",
    "Histogram",
    "ImageStats",
    "Schema",
    "ValidationReport",
    "VersionDiff",
    "add",
    "assign_splits",
    "derive",
    "diff",
    "get",
    "infer_schema",
    "list_datasets",
    "list_versions",
    "materialize",
    "parse_ref",
    "query",
    "remove",
    "resolve",
    "suggest",
    "tag",
    "validate",
]


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from stackml.tracking.api import get_store

    return get_store()


def parse_ref(text: str, default_version: str = "latest") -> tuple[str, str]:
    """Split ``name@ref`` into its parts (``name`` alone means ``name@latest``)."""
    name, _, ref = text.partition("@")
    return check_dataset_name(name), ref or default_version


def add(
    name: str, source: Any = None, *, store: Store | None = None, **options: Any
) -> DatasetVersion:
    """Add a version of dataset ``name``.

    Args:
        name: dataset name.
        source: a folder or file (a file tree), a CSV/Parquet file, a pandas DataFrame or an
            Arrow table.
        table: a table (path, DataFrame or Arrow) to store beside a folder's files; its
            ``path_column`` names files of the folder.
        message: what changed.
        split: fractions per split, e.g. ``{"train": 0.8, "val": 0.1, "test": 0.1}`` or
            :data:`TWO_VALIDATION_SETS`; assigned with ``seed``, stratified on ``label``.
        key: column identifying rows, used by ``diff``.
        expectations: YAML text (or mapping) of expectations stored with the version.
        follow_symlinks: store symlinks' targets instead of refusing them.
        verify: re-hash every file instead of trusting the local hash cache.
        parent: ref of the parent version (default: the current ``latest``).
        progress: called with ``(files done, bytes done)``.
    """
    return add_version(_store(store), name, source, **options)


def resolve(name: str, version: str = "latest", *, store: Store | None = None) -> DatasetVersion:
    """The version a ref names (id, id prefix, ``vN`` or alias)."""
    return _store(store).metadata.get_dataset_version(check_dataset_name(name), version)


def get(
    name: str,
    version: str = "latest",
    *,
    dest: str | Path | None = None,
    store: Store | None = None,
) -> DatasetHandle:
    """A handle on a version; its ``.path`` is materialised on first use (into ``dest``)."""
    store = _store(store)
    return DatasetHandle(store, resolve(name, version, store=store), dest)


def list_datasets(*, store: Store | None = None) -> list[Dataset]:
    """Every dataset."""
    return _store(store).metadata.list_datasets()


def list_versions(
    name: str, *, store: Store | None = None, include_deleted: bool = False
) -> list[DatasetVersion]:
    """Versions of a dataset, newest first."""
    return _store(store).metadata.list_dataset_versions(name, include_deleted=include_deleted)


def tag(name: str, alias: str, version: str | None, *, store: Store | None = None) -> AliasEvent:
    """Point ``alias`` at a version (``None`` removes it)."""
    return _store(store).metadata.set_dataset_alias(name, alias, version, author=author_name())


def remove(name: str, version: str, *, store: Store | None = None) -> DatasetVersion:
    """Soft-delete a version; ``stackml gc`` frees its blobs."""
    return _store(store).metadata.delete_dataset_version(name, version)


def diff(a: str, b: str, *, key: str | None = None, store: Store | None = None) -> VersionDiff:
    """Compare ``name@ref`` ``a`` with ``b``."""
    store = _store(store)
    return diff_versions(get(*parse_ref(a), store=store), get(*parse_ref(b), store=store), key=key)


def validate(
    target: str,
    *,
    against: str | None = None,
    expectations: str | Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> ValidationReport:
    """Validate ``name@ref`` against its expectations (or given ones) and a reference's schema."""
    store = _store(store)
    handle = get(*parse_ref(target), store=store)
    if handle.version.table_hash is None:
        raise InvalidInput(f"{handle.version.label} has no table to validate")
    reference = None
    doc = expectations if expectations is not None else handle.version.schema.get("expectations")
    if against is not None:
        ref = get(*parse_ref(against), store=store)
        reference = ref.schema
        if expectations is None:
            doc = ref.version.schema.get("expectations") or doc
    checked = None if doc is None else parse_expectations(doc)
    return validate_table(
        handle.to_arrow(), target=handle.version.label, expectations=checked, reference=reference
    )


def query(target: str, sql: str, *, store: Store | None = None) -> Any:
    """Run DuckDB SQL on a version's table, visible as ``data``; returns an Arrow table."""
    import duckdb

    table = get(*parse_ref(target), store=store).to_arrow()
    con = duckdb.connect()
    try:
        con.register("data", table)
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as error:
        raise InvalidInput(f"query failed: {error}") from error
    finally:
        con.close()


def derive(
    source: str,
    name: str | None = None,
    *,
    op: str,
    message: str = "",
    store: Store | None = None,
    **args: Any,
) -> DatasetVersion:
    """A new version made by a transform of ``source``'s table (see :mod:`.transforms`).

    It keeps the parent's files, records the transform, and lineage gets an edge from the
    parent version to the new one.
    """
    from stackml.data import transforms

    store = _store(store)
    parent = get(*parse_ref(source), store=store)
    table, record = transforms.apply(parent.to_arrow(), op, **args)
    record["parent"] = parent.ref
    target = name or parent.version.dataset
    schema = parent.version.schema
    version = add_version(
        store,
        target,
        parent.path if parent.version.manifest_hash else None,
        table=table,
        message=message or f"{op} of {parent.version.label}",
        key=schema.get("key"),
        label=schema.get("label"),
        path_column=schema.get("path_column"),
        expectations=schema.get("expectations"),
        parent=parent.version.id if target == parent.version.dataset else None,
        transform=record,
        inherit_splits=parent.version.splits,
    )
    store.metadata.add_lineage(
        LineageEdge(
            "dataset_version", parent.ref, "dataset_version", version.ref, "derived", 0, {"op": op}
        )
    )
    return version
