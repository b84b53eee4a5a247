"""``SqlRegistryStore``: the model registry part of the metadata store in SQL.

Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`. Each method validates its
input, then runs one function of :mod:`.registry` in one transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput
from stackml.store.registry_base import (
    ALIAS_ACTIONS,
    NUMBERISH,
    ModelAliasEvent,
    ModelVersion,
    ModelVersionDraft,
    RegisteredModel,
    RegistryStore,
)
from stackml.store.sql import inputs
from stackml.store.sql import registry as rows

if TYPE_CHECKING:
    from stackml.store.sql.engine import Database

__all__ = ["SqlRegistryStore", "check_alias", "check_draft", "check_version_number"]

_MAX_TEXT = inputs.MAX_VALUE


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_TEXT or "\x00" in value:
        raise InvalidInput(f"{what} must be text of at most {_MAX_TEXT} characters")
    return value


def check_alias(alias: object) -> str:
    """An alias name that cannot be mistaken for a version number."""
    alias = inputs.name(alias, "alias")
    if NUMBERISH.fullmatch(alias) or alias == "latest":
        raise InvalidInput(f"alias {alias!r} looks like a version number or 'latest'; pick another")
    return alias


def check_version_number(value: object) -> int:
    """A version number (1, 2, ...)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"a version number is an integer >= 1, not {value!r}")
    return value


def _metrics(values: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise InvalidInput("metrics must be a mapping of key to number")
    out = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput(f"metric {key!r} must be a number, not {value!r}")
        if math.isfinite(float(value)):  # JSON has no NaN: a non-finite value is left out
            out[inputs.key(key, "metric key")] = float(value)
    return out


def _gates(gates: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if not isinstance(gates, Mapping):
        raise InvalidInput("gates must map an alias to a list of gate names")
    out = {}
    for alias, specs in gates.items():
        if isinstance(specs, str) or not isinstance(specs, Sequence):
            raise InvalidInput(f"gates of {alias!r} must be a list of gate names")
        out[check_alias(alias)] = [inputs.label(s, "gate", max_len=250) for s in specs]
    return out


def check_draft(draft: ModelVersionDraft) -> ModelVersionDraft:
    """Validate every field of a draft; return a normalised copy."""
    if not isinstance(draft, ModelVersionDraft):
        raise InvalidInput("create_model_version needs a ModelVersionDraft")
    if not isinstance(draft.signature, Mapping) or not draft.signature.get("inputs"):
        raise InvalidInput("a model version needs a signature with at least one input")
    source = None
    if draft.source_version is not None:
        source = inputs.label(draft.source_version, "source version")
    commit = None
    if draft.code_commit:
        commit = inputs.label(draft.code_commit, "code commit", max_len=64)
    return ModelVersionDraft(
        model=inputs.name(draft.model, "model name"),
        run_id=inputs.identifier(draft.run_id),
        artifact_path=inputs.path(draft.artifact_path),
        format=inputs.name(draft.format, "model format"),
        files=rows.check_files(draft.files),
        signature=rows.plain_json(dict(draft.signature), "signature"),
        metrics=_metrics(draft.metrics),
        meta=rows.plain_json(dict(draft.meta), "format metadata"),
        description=_text(draft.description, "description"),
        tags=inputs.string_map(draft.tags, "tag"),
        author=inputs.label(draft.author or "unknown", "author"),
        code_commit=commit,
        dataset_versions=tuple(
            inputs.label(d, "dataset version") for d in dict.fromkeys(draft.dataset_versions)
        ),
        source_version=source,
        created_at=inputs.non_negative_int(draft.created_at, "created_at") or now_ms(),
    )


class SqlRegistryStore(RegistryStore):
    """Model registry rows on SQLite or PostgreSQL."""

    _db: Database

    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        name = inputs.name(name, "model name")
        text = _text(description, "description")
        checked = inputs.string_map(tags, "tag")

        def work(conn: Any) -> RegisteredModel:
            rows.create_model(conn, name, text, checked, strict=True)
            return rows.get_model(conn, name)

        return self._db.transact(work, write=True, what="create registered model")

    def get_registered_model(self, name: str) -> RegisteredModel:
        name = inputs.name(name, "model name")
        return self._db.transact(
            lambda c: rows.get_model(c, name), write=False, what="get registered model"
        )

    def list_registered_models(self) -> list[RegisteredModel]:
        return self._db.transact(rows.list_models, write=False, what="list registered models")

    def update_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        gates: Mapping[str, Sequence[str]] | None = None,
    ) -> RegisteredModel:
        name = inputs.name(name, "model name")
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = _text(description, "description")
        if tags is not None:
            changes["tags"] = inputs.string_map(tags, "tag")
        if gates is not None:
            changes["gates"] = _gates(gates)
        return self._db.transact(
            lambda c: rows.update_model(c, name, changes),
            write=True,
            what="update registered model",
        )

    def create_model_version(self, draft: ModelVersionDraft) -> ModelVersion:
        checked = check_draft(draft)
        return self._db.transact(
            lambda c: rows.create_version(c, checked), write=True, what="create model version"
        )

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        name = inputs.name(name, "model name")
        number = check_version_number(version)
        return self._db.transact(
            lambda c: rows.get_version(c, name, number), write=False, what="get model version"
        )

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        name = inputs.name(name, "model name")
        return self._db.transact(
            lambda c: rows.list_versions(c, name), write=False, what="list model versions"
        )

    def get_model_alias(self, name: str, alias: str) -> int:
        name = inputs.name(name, "model name")
        alias = inputs.name(alias, "alias")
        return self._db.transact(
            lambda c: rows.get_alias(c, name, alias), write=False, what="get model alias"
        )

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
        name = inputs.name(name, "model name")
        alias = check_alias(alias)
        number = None if version is None else check_version_number(version)
        if action not in ALIAS_ACTIONS:
            raise InvalidInput(f"action must be one of {', '.join(ALIAS_ACTIONS)}")
        if (action == "remove") != (number is None):
            raise InvalidInput("removing an alias is action 'remove' with no version")
        event = {
            "action": action,
            "author": inputs.label(author or "unknown", "author"),
            "reason": _text(reason, "reason"),
            "gates": rows.plain_json(dict(gates or {}), "gate results"),
        }
        return self._db.transact(
            lambda c: rows.set_alias(c, name, alias, number, event),
            write=True,
            what="set model alias",
        )

    def model_alias_history(self, name: str, alias: str | None = None) -> list[ModelAliasEvent]:
        name = inputs.name(name, "model name")
        checked = None if alias is None else inputs.name(alias, "alias")
        return self._db.transact(
            lambda c: rows.alias_history(c, name, checked), write=False, what="alias history"
        )
