"""The datasets part of the ``MetadataStore`` contract, and the snapshots it returns.

A *dataset* is a name; a *version* is an immutable snapshot of it. The store keeps the
version's metadata row and the hashes of every blob it references (manifest, Parquet table,
files); the bytes themselves live in the blob store. The layer above (:mod:`stackml.data`)
uploads every blob first and calls :meth:`DatasetStore.create_dataset_version` last, so a
version row never points at a missing blob and an interrupted add leaves no row behind.

Versions are addressed by a *ref*:

* the short id (12 hex characters) or a unique prefix of at least 4 characters;
* ``vN``, the version's number within its dataset (``v1`` is the first);
* an alias such as ``latest`` (moved on every add) or ``prod`` (moved by ``set_dataset_alias``).

Schemas, statistics, splits and transforms travel as plain JSON mappings here: their typed
form lives in :mod:`stackml.data.schema`, above this layer.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

#: The alias every new version takes.
LATEST = "latest"
#: Kinds of version: a file tree, a table, or a table that references files.
VersionKind = Literal["files", "table", "mixed"]
VERSION_KINDS: tuple[str, ...] = ("files", "table", "mixed")
#: ``vN`` refs are version numbers, so no alias may look like one.
NUMBER_REF = re.compile(r"^v([0-9]{1,9})$")
SHORT_ID_LENGTH = 12


@dataclass(frozen=True)
class Dataset:
    """A named dataset and a summary of its versions (deleted ones not counted)."""

    name: str
    created_at: int
    version_count: int = 0
    latest_id: str | None = None


@dataclass(frozen=True)
class VersionDraft:
    """What a client submits to create a version, after every blob is stored.

    ``parent_id`` of ``None`` means "the dataset's ``latest`` version at commit time".
    ``blob_hashes`` lists every blob the version references (for ``gc``); the manifest and
    table blobs are added by the store.
    """

    dataset: str
    kind: str
    manifest_hash: str | None
    table_hash: str | None
    blob_hashes: Sequence[str]
    num_files: int
    num_rows: int | None
    size_bytes: int
    message: str
    author: str
    schema: Mapping[str, Any] = field(default_factory=dict)
    splits: Mapping[str, Any] = field(default_factory=dict)
    transform: Mapping[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    created_at: int = 0


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable version of a dataset."""

    id: str
    dataset: str
    number: int
    parent_id: str | None
    message: str
    author: str
    created_at: int
    kind: str
    manifest_hash: str | None
    table_hash: str | None
    num_files: int
    num_rows: int | None
    size_bytes: int
    schema: Mapping[str, Any] = field(default_factory=dict)
    splits: Mapping[str, Any] = field(default_factory=dict)
    transform: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    deleted: bool = False

    @property
    def ref(self) -> str:
        """``name@id``, the form lineage edges and the CLI use."""
        return f"{self.dataset}@{self.id}"

    @property
    def label(self) -> str:
        """``name@vN``, for people."""
        return f"{self.dataset}@v{self.number}"


@dataclass(frozen=True)
class AliasEvent:
    """One move of an alias (``version_id`` is ``None`` when it was removed)."""

    dataset: str
    alias: str
    version_id: str | None
    moved_at: int
    author: str


class DatasetStore(abc.ABC):
    """Datasets, versions and aliases. Same thread-safety and error contract as the store."""

    @abc.abstractmethod
    def create_dataset_version(self, draft: VersionDraft) -> DatasetVersion:
        """Create the dataset if needed and commit a new version in one transaction.

        The version gets the next number, its content id, and the ``latest`` alias.
        Concurrent calls on one dataset produce distinct versions. Raises ``NotFound`` for
        an unknown ``parent_id`` and ``InvalidInput`` for malformed fields.
        """

    @abc.abstractmethod
    def list_datasets(self) -> list[Dataset]:
        """Every dataset with at least one version, ordered by name."""

    @abc.abstractmethod
    def list_dataset_versions(
        self, dataset: str, *, include_deleted: bool = False
    ) -> list[DatasetVersion]:
        """Versions of a dataset, newest first. Raises ``NotFound`` for an unknown dataset."""

    @abc.abstractmethod
    def get_dataset_version(self, dataset: str, ref: str) -> DatasetVersion:
        """Resolve a ref (id, id prefix, ``vN`` or alias). Raises ``NotFound``.

        Soft-deleted versions are found by id or number (so lineage stays readable) but
        never by alias.
        """

    @abc.abstractmethod
    def set_dataset_alias(
        self, dataset: str, alias: str, ref: str | None, *, author: str = ""
    ) -> AliasEvent:
        """Point ``alias`` at the version ``ref`` names, or remove it when ``ref`` is None."""

    @abc.abstractmethod
    def alias_history(self, dataset: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of the dataset's aliases (or of one), oldest first."""

    @abc.abstractmethod
    def delete_dataset_version(self, dataset: str, ref: str) -> DatasetVersion:
        """Soft-delete a version: its aliases are removed (``latest`` falls back to the
        newest remaining version) and its blobs become garbage for ``stackml gc``."""
