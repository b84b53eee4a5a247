"""The dataset methods of :class:`~stackml.store.rest.RestMetadataStore` (``/api/v1/datasets``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.store.datasets_base import (
    AliasEvent,
    Dataset,
    DatasetStore,
    DatasetVersion,
    VersionDraft,
)

if TYPE_CHECKING:
    from stackml.store._http import HttpTransport


def _seg(value: object, what: str = "name") -> str:
    """A validated name as a URL path segment (checked here: a '/' would change the route)."""
    try:
        return quote(validate_name(value, what=what), safe="")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def _version(d: Mapping[str, Any]) -> DatasetVersion:
    return DatasetVersion(
        id=d["id"],
        dataset=d["dataset"],
        number=d["number"],
        parent_id=d["parent_id"],
        message=d["message"],
        author=d["author"],
        created_at=d["created_at"],
        kind=d["kind"],
        manifest_hash=d["manifest_hash"],
        table_hash=d["table_hash"],
        num_files=d["num_files"],
        num_rows=d["num_rows"],
        size_bytes=d["size_bytes"],
        schema=dict(d["data_schema"]),
        splits=dict(d["splits"]),
        transform=dict(d["transform"]),
        aliases=tuple(d["aliases"]),
        deleted=d["deleted"],
    )


def _event(d: Mapping[str, Any]) -> AliasEvent:
    return AliasEvent(d["dataset"], d["alias"], d["version_id"], d["moved_at"], d["author"])


class RestDatasetStore(DatasetStore):
    """Datasets over HTTP; mixed into ``RestMetadataStore``."""

    http: HttpTransport

    def create_dataset_version(self, draft: VersionDraft) -> DatasetVersion:
        if not isinstance(draft, VersionDraft):
            raise InvalidInput("create_dataset_version needs a VersionDraft")
        body = {
            "kind": draft.kind,
            "manifest_hash": draft.manifest_hash,
            "table_hash": draft.table_hash,
            "blob_hashes": list(draft.blob_hashes),
            "num_files": draft.num_files,
            "num_rows": draft.num_rows,
            "size_bytes": draft.size_bytes,
            "message": draft.message,
            "author": draft.author,
            "data_schema": dict(draft.schema),
            "splits": dict(draft.splits),
            "transform": dict(draft.transform),
            "parent_id": draft.parent_id,
            "created_at": draft.created_at,
        }
        try:
            json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidInput(f"a dataset version must be plain JSON (no NaN): {error}") from error
        # Not idempotent: a resent POST could commit twice, so it is never retried.
        answer = self.http.call(
            "POST", f"/datasets/{_seg(draft.dataset)}/versions", json=body, retry=False
        )
        return _version(answer)

    def list_datasets(self) -> list[Dataset]:
        return [
            Dataset(d["name"], d["created_at"], d["version_count"], d["latest_id"])
            for d in self.http.call("GET", "/datasets")
        ]

    def list_dataset_versions(
        self, dataset: str, *, include_deleted: bool = False
    ) -> list[DatasetVersion]:
        answer = self.http.call(
            "GET",
            f"/datasets/{_seg(dataset)}/versions",
            params={"include_deleted": str(bool(include_deleted)).lower()},
        )
        return [_version(d) for d in answer]

    def get_dataset_version(self, dataset: str, ref: str) -> DatasetVersion:
        return _version(self.http.call("GET", f"/datasets/{_seg(dataset)}/versions/{_seg(ref)}"))

    def set_dataset_alias(
        self, dataset: str, alias: str, ref: str | None, *, author: str = ""
    ) -> AliasEvent:
        answer = self.http.call(
            "PUT",
            f"/datasets/{_seg(dataset)}/aliases/{_seg(alias)}",
            json={"ref": ref, "author": author},
        )
        return _event(answer)

    def alias_history(self, dataset: str, alias: str | None = None) -> list[AliasEvent]:
        answer = self.http.call(
            "GET", f"/datasets/{_seg(dataset)}/aliases", params={"alias": alias}
        )
        return [_event(d) for d in answer]

    def delete_dataset_version(self, dataset: str, ref: str) -> DatasetVersion:
        return _version(self.http.call("DELETE", f"/datasets/{_seg(dataset)}/versions/{_seg(ref)}"))
