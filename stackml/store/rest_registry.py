"""``RestRegistryStore``: the model registry part of the metadata store over HTTP.

Mixed into :class:`~stackml.store.rest.RestMetadataStore`; each method is one request to
``/api/v1/models``. Inputs are checked here exactly as the SQL store checks them, so a bad
call fails the same way embedded or against a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.store.registry_base import (
    ModelAliasEvent,
    ModelFile,
    ModelVersion,
    ModelVersionDraft,
    RegisteredModel,
    RegistryStore,
)

if TYPE_CHECKING:
    from stackml.store._http import HttpTransport

__all__ = ["RestRegistryStore"]


def _seg(value: object, what: str = "model name") -> str:
    """A validated name as a URL path segment (checked here: a '/' would change the route)."""
    try:
        return quote(validate_name(value, what=what), safe="")
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"a version number is an integer >= 1, not {value!r}")
    return value


def _model(d: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=d["name"],
        description=d["description"],
        created_at=d["created_at"],
        updated_at=d["updated_at"],
        tags=dict(d["tags"]),
        gates={k: list(v) for k, v in d["gates"].items()},
        version_count=d["version_count"],
        latest_version=d["latest_version"],
        aliases=dict(d["aliases"]),
    )


def _version(d: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        model=d["model"],
        version=d["version"],
        run_id=d["run_id"],
        artifact_path=d["artifact_path"],
        format=d["format"],
        files=tuple(ModelFile(f["path"], f["blob_hash"], f["size"]) for f in d["files"]),
        signature=dict(d["signature"]),
        metrics=dict(d["metrics"]),
        meta=dict(d["meta"]),
        description=d["description"],
        tags=dict(d["tags"]),
        author=d["author"],
        created_at=d["created_at"],
        code_commit=d["code_commit"],
        dataset_versions=tuple(d["dataset_versions"]),
        source_version=d["source_version"],
        aliases=tuple(d["aliases"]),
    )


def _event(d: Mapping[str, Any]) -> ModelAliasEvent:
    return ModelAliasEvent(
        model=d["model"],
        alias=d["alias"],
        version=d["version"],
        previous=d["previous"],
        action=d["action"],
        author=d["author"],
        reason=d["reason"],
        moved_at=d["moved_at"],
        gates=dict(d["gates"]),
    )


class RestRegistryStore(RegistryStore):
    """Model registry rows through ``stackml server``."""

    http: HttpTransport

    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        _seg(name)
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        return _model(self.http.call("POST", "/models", json=body, retry=False))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _model(self.http.call("GET", f"/models/{_seg(name)}"))

    def list_registered_models(self) -> list[RegisteredModel]:
        return [_model(d) for d in self.http.call("GET", "/models")]

    def update_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        gates: Mapping[str, Sequence[str]] | None = None,
    ) -> RegisteredModel:
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if tags is not None:
            body["tags"] = dict(tags)
        if gates is not None:
            if not isinstance(gates, Mapping) or any(
                isinstance(v, str) or not isinstance(v, Sequence) for v in gates.values()
            ):
                raise InvalidInput("gates must map an alias to a list of gate names")
            body["gates"] = {k: list(v) for k, v in gates.items()}
        return _model(self.http.call("PATCH", f"/models/{_seg(name)}", json=body))

    def create_model_version(self, draft: ModelVersionDraft) -> ModelVersion:
        # The SQL store's checks run here too, so a bad draft fails before any request.
        from stackml.store.sql.registry_store import check_draft

        checked = check_draft(draft)
        body = {
            "run_id": checked.run_id,
            "artifact_path": checked.artifact_path,
            "format": checked.format,
            "files": [
                {"path": f.path, "blob_hash": f.blob_hash, "size": f.size} for f in checked.files
            ],
            "signature": dict(checked.signature),
            "metrics": dict(checked.metrics),
            "meta": dict(checked.meta),
            "description": checked.description,
            "tags": dict(checked.tags),
            "author": checked.author,
            "code_commit": checked.code_commit,
            "dataset_versions": list(checked.dataset_versions),
            "source_version": checked.source_version,
            "created_at": checked.created_at,
        }
        # Not idempotent: a resent POST could register twice, so it is never retried.
        answer = self.http.call(
            "POST", f"/models/{_seg(checked.model)}/versions", json=body, retry=False
        )
        return _version(answer)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        path = f"/models/{_seg(name)}/versions/{_number(version)}"
        return _version(self.http.call("GET", path))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        return [_version(d) for d in self.http.call("GET", f"/models/{_seg(name)}/versions")]

    def get_model_alias(self, name: str, alias: str) -> int:
        path = f"/models/{_seg(name)}/aliases/{_seg(alias, 'alias')}"
        return int(self.http.call("GET", path)["version"])

    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        action: str = "set",
        author: str = "",
        reason: str = "",
        gates: Mapping[str, Any] | None = None,
    ) -> ModelAliasEvent:
        from stackml.store.sql.registry_store import check_alias

        body = {
            "version": None if version is None else _number(version),
            "action": action,
            "author": author,
            "reason": reason,
            "gates": dict(gates or {}),
        }
        path = f"/models/{_seg(name)}/aliases/{_seg(check_alias(alias), 'alias')}"
        return _event(self.http.call("PUT", path, json=body, retry=False))

    def model_alias_history(self, name: str, alias: str | None = None) -> list[ModelAliasEvent]:
        params = {} if alias is None else {"alias": alias}
        answer = self.http.call("GET", f"/models/{_seg(name)}/alias-history", params=params)
        return [_event(d) for d in answer]
