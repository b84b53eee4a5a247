"""Model registry: the part of the :class:`~stackml.store.base.MetadataStore` interface that keeps
registered models, versions, aliases with their history, and the promotion audit trail.

A *registered model* is a name; a *model version* is an immutable record numbered 1, 2, ...
within it. A version's files are artifacts of the run that made it: the store refuses a
version whose files are not recorded, with exactly those blob hashes, under its run's
``artifact_path``. Aliases (``production``, ``staging``, ...) point at one version each; every
move is kept with who moved it, when, why, and the promotion gates' answers.

Signatures, metrics and format metadata travel as plain JSON here; their typed forms live in
:mod:`stackml.registry`, above this layer.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALIAS_ACTIONS",
    "ModelAliasEvent",
    "ModelFile",
    "ModelVersion",
    "ModelVersionDraft",
    "RegisteredModel",
    "RegistryStore",
]

#: What an alias move was: a promotion, a rollback, a plain move or a removal.
ALIAS_ACTIONS: tuple[str, ...] = ("promote", "rollback", "set", "remove")
#: Aliases may not look like version numbers (``3``, ``v3``): refs would be ambiguous.
NUMBERISH = re.compile(r"^v?[0-9]+$")


@dataclass(frozen=True)
class RegisteredModel:
    """A named model and a summary of its versions.

    ``gates`` maps an alias to the gate specs that guard promotion to it (see
    :mod:`stackml.registry.gates`); ``aliases`` maps each alias to the version it points at.
    """

    name: str
    description: str
    created_at: int
    updated_at: int
    tags: dict[str, str] = field(default_factory=dict)
    gates: dict[str, list[str]] = field(default_factory=dict)
    version_count: int = 0
    latest_version: int | None = None
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelFile:
    """One file of a model version: its artifact path in the run (``artifact_path`` itself or
    below it), its blob hash and size."""

    path: str
    blob_hash: str
    size: int


@dataclass(frozen=True)
class ModelVersionDraft:
    """What a client submits to create a version.

    ``files`` are artifacts of the run: ``artifact_path`` itself (a single-file model) or the
    files under it (a folder). ``dataset_versions`` are ``name@id`` refs the run trained on;
    ``source_version`` is the ``name@N`` this version was derived from (compression).
    """

    model: str
    run_id: str
    artifact_path: str
    format: str
    files: Sequence[ModelFile]
    signature: Mapping[str, Any]
    metrics: Mapping[str, float] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    author: str = ""
    code_commit: str | None = None
    dataset_versions: Sequence[str] = ()
    source_version: str | None = None
    created_at: int = 0


@dataclass(frozen=True)
class ModelVersion:
    """An immutable version of a registered model."""

    model: str
    version: int
    run_id: str
    artifact_path: str
    format: str
    files: tuple[ModelFile, ...]
    signature: dict[str, Any]
    metrics: dict[str, float]
    meta: dict[str, Any]
    description: str
    tags: dict[str, str]
    author: str
    created_at: int
    code_commit: str | None = None
    dataset_versions: tuple[str, ...] = ()
    source_version: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``name@N``: the form refs, lineage edges and the CLI use."""
        return f"{self.model}@{self.version}"

    @property
    def size_bytes(self) -> int:
        """Total size of the version's files."""
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class ModelAliasEvent:
    """One move of an alias: the audit trail of promotions and rollbacks.

    ``version`` is ``None`` when the alias was removed; ``previous`` is where it pointed
    before. ``gates`` holds each promotion gate's answer (``{name: {"passed", "reasons"}}``).
    """

    model: str
    alias: str
    version: int | None
    previous: int | None
    action: str
    author: str
    reason: str
    moved_at: int
    gates: dict[str, Any] = field(default_factory=dict)


class RegistryStore(abc.ABC):
    """Registered models, versions and aliases. Same thread-safety and error contract as the
    store: ``NotFound`` for unknown names and versions, ``AlreadyExists`` for a taken model
    name, ``InvalidInput`` for malformed fields."""

    @abc.abstractmethod
    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create an empty registered model. Raises ``AlreadyExists``."""

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its version count and aliases. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_registered_models(self) -> list[RegisteredModel]:
        """Every registered model, ordered by name."""

    @abc.abstractmethod
    def update_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        gates: Mapping[str, Sequence[str]] | None = None,
    ) -> RegisteredModel:
        """Replace the fields given (``None`` keeps a field). Raises ``NotFound``."""

    @abc.abstractmethod
    def create_model_version(self, draft: ModelVersionDraft) -> ModelVersion:
        """Create the model if needed and commit the next version in one transaction.

        Raises ``NotFound`` for an unknown run and ``InvalidInput`` when a file is not an
        artifact of the run under ``artifact_path`` with the given blob hash (a version's
        source must lie inside its run's artifacts).
        """

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version by number. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Versions of a model, newest first. Raises ``NotFound`` for an unknown model."""

    @abc.abstractmethod
    def get_model_alias(self, name: str, alias: str) -> int:
        """The version number ``alias`` points at. Raises ``NotFound``."""

    @abc.abstractmethod
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
        """Point ``alias`` at ``version`` (remove it when ``None``) and record the move.

        The store records what it is told; promotion gates run in
        :func:`stackml.registry.promote` before it calls this.
        """

    @abc.abstractmethod
    def model_alias_history(self, name: str, alias: str | None = None) -> list[ModelAliasEvent]:
        """Every move of the model's aliases (or of one alias), oldest first."""
