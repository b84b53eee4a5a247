"""``SqlDatasetStore``: the dataset methods of :class:`~stackml.store.sql.store.SqlMetadataStore`.

Each method validates its input, then runs one function of :mod:`.datasets` in one
transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackml.store.datasets_base import (
    AliasEvent,
    Dataset,
    DatasetStore,
    DatasetVersion,
    VersionDraft,
)
from stackml.store.sql import inputs
from stackml.store.sql.datasets import (
    alias_history,
    check_alias,
    check_draft,
    check_ref,
    create_version,
    delete_version,
    get_version,
    list_datasets,
    list_versions,
    set_alias,
)

if TYPE_CHECKING:
    from stackml.store.sql.engine import Database


class SqlDatasetStore(DatasetStore):
    """The dataset methods of :class:`~stackml.store.sql.store.SqlMetadataStore`."""

    _db: Database

    def create_dataset_version(self, draft: VersionDraft) -> DatasetVersion:
        checked = check_draft(draft)
        return self._db.transact(
            lambda c: create_version(c, checked), write=True, what="create dataset version"
        )

    def list_datasets(self) -> list[Dataset]:
        return self._db.transact(list_datasets, write=False, what="list datasets")

    def list_dataset_versions(
        self, dataset: str, *, include_deleted: bool = False
    ) -> list[DatasetVersion]:
        dataset = inputs.name(dataset, "dataset name")
        return self._db.transact(
            lambda c: list_versions(c, dataset, bool(include_deleted)),
            write=False,
            what="list dataset versions",
        )

    def get_dataset_version(self, dataset: str, ref: str) -> DatasetVersion:
        dataset = inputs.name(dataset, "dataset name")
        ref = check_ref(ref)
        return self._db.transact(
            lambda c: get_version(c, dataset, ref), write=False, what="get dataset version"
        )

    def set_dataset_alias(
        self, dataset: str, alias: str, ref: str | None, *, author: str = ""
    ) -> AliasEvent:
        dataset = inputs.name(dataset, "dataset name")
        alias = check_alias(alias)
        target = None if ref is None else check_ref(ref)
        who = inputs.label(author or "unknown", "author")
        return self._db.transact(
            lambda c: set_alias(c, dataset, alias, target, who), write=True, what="set alias"
        )

    def alias_history(self, dataset: str, alias: str | None = None) -> list[AliasEvent]:
        dataset = inputs.name(dataset, "dataset name")
        name = None if alias is None else inputs.name(alias, "alias")
        return self._db.transact(
            lambda c: alias_history(c, dataset, name), write=False, what="alias history"
        )

    def delete_dataset_version(self, dataset: str, ref: str) -> DatasetVersion:
        dataset = inputs.name(dataset, "dataset name")
        ref = check_ref(ref)
        return self._db.transact(
            lambda c: delete_version(c, dataset, ref, "unknown"),
            write=True,
            what="delete dataset version",
        )
