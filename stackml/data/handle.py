"""``DatasetHandle``: what :func:`stackml.data.get` returns, one version ready to read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from stackml.data.manifest import Manifest
from stackml.data.materialize import is_materialized, load_manifest, materialize, remove_tree
from stackml.data.schema import Schema
from stackml.data.splits import SPLIT_COLUMN
from stackml.data.tables import from_parquet_bytes
from stackml.errors import IntegrityError, InvalidInput

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.datasets_base import DatasetVersion


def cache_root() -> Path:
    """Where versions are materialised when no destination is given."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stackml" / "datasets"


class DatasetHandle:
    """One dataset version: its metadata, schema, files and table.

    Attributes:
        version: the :class:`~stackml.store.datasets_base.DatasetVersion` snapshot.
    """

    def __init__(self, store: Store, version: DatasetVersion, dest: str | Path | None = None):
        self._store = store
        self.version = version
        self._dest = Path(dest) if dest is not None else None

    def __repr__(self) -> str:
        return f"DatasetHandle({self.version.label}, id={self.version.id})"

    @property
    def ref(self) -> str:
        """``name@id``."""
        return self.version.ref

    @cached_property
    def schema(self) -> Schema:
        """The version's schema and statistics."""
        return Schema.from_dict(self.version.schema)

    @cached_property
    def manifest(self) -> Manifest:
        """The version's files (empty for a pure table)."""
        return load_manifest(self._store.blobs, self.version)

    @cached_property
    def path(self) -> Path:
        """A folder holding the version's files (and ``table.parquet``), written on first use."""
        dest = self._dest or cache_root() / self.version.dataset / self.version.id
        if is_materialized(dest, self.version):
            return dest
        if dest.exists() and self._dest is None:
            remove_tree(dest)  # a cache folder left half-written by an interrupted get
        return materialize(self._store.blobs, self.version, dest)

    def to_arrow(self, split: str | None = None) -> pa.Table:
        """The version's table (optionally one split's rows), read from its Parquet blob."""
        if self.version.table_hash is None:
            raise InvalidInput(f"{self.version.label} is a file tree without a table")
        try:
            table = from_parquet_bytes(self._store.blobs.get_bytes(self.version.table_hash))
        except IntegrityError as error:
            raise IntegrityError(
                f"the table of {self.version.label} is corrupt in the blob store; "
                "run `stackml fsck`"
            ) from error
        if split is None:
            return table
        if SPLIT_COLUMN not in table.column_names:
            raise InvalidInput(f"{self.version.label} has no splits")
        import pyarrow.compute as pc

        known = set(self.version.splits.get("counts", {}))
        if split not in known:
            raise InvalidInput(f"unknown split {split!r}; {self.version.label} has {sorted(known)}")
        return table.filter(pc.equal(table.column(SPLIT_COLUMN), split))

    def to_pandas(self, split: str | None = None) -> Any:
        """The table as a pandas DataFrame."""
        return self.to_arrow(split).to_pandas()

    def to_torch(
        self,
        split: str | None = None,
        *,
        features: Sequence[str] | None = None,
        label: str | None = None,
    ) -> Any:
        """A ``torch.utils.data.Dataset`` of ``(x, y)`` pairs.

        When the version's table references image files (its path column), ``x`` is the
        decoded image as a float tensor (C x H x W, 0..1); otherwise it is the numeric
        ``features`` (default: every numeric column but the label). ``y`` is the label column
        (default: the one named at add time).
        """
        from stackml.data.torch_dataset import build_torch_dataset

        table = self.to_arrow(split)
        label = label or self.version.schema.get("label")
        path_column = self.version.schema.get("path_column")
        root = self.path if path_column and self.version.manifest_hash else None
        return build_torch_dataset(
            table, features=features, label=label, path_column=path_column, root=root
        )
