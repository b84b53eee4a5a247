"""``CheckContext``: everything the automated checks read about one model version.

Each property loads lazily and once. Capabilities a store may not hold data for (no sweeps,
no deployments…) answer empty rather than failing, so a check simply finds no evidence.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from stackml.checks.config import ChecksConfig
from stackml.errors import NotFound, StackmlError

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.datasets_base import DatasetVersion
    from stackml.store.entities import Run
    from stackml.store.registry_base import ModelAliasEvent, ModelVersion, RegisteredModel

__all__ = ["CheckContext", "Finding"]

T = TypeVar("T")
DAY_MS = 86_400_000


class Finding:
    """What one automated check found: ``passed`` and a sentence of evidence (or its lack)."""

    __slots__ = ("detail", "link", "passed")

    def __init__(self, passed: bool, detail: str, link: str | None = None) -> None:
        self.passed = passed
        self.detail = detail
        self.link = link

    def __repr__(self) -> str:
        return f"Finding({self.passed}, {self.detail!r})"


class CheckContext:
    """One model version in one store, with the project's checks configuration."""

    def __init__(
        self, store: Store, version: ModelVersion, config: ChecksConfig | None = None
    ) -> None:
        self.store = store
        self.meta = store.metadata
        self.version = version
        self.config = config or ChecksConfig()
        self.now_ms = int(time.time() * 1000)

    def optional(self, fn: Callable[[], T], default: T) -> T:
        """``fn()``, or ``default`` when the store holds nothing for it."""
        try:
            return fn()
        except (NotFound, NotImplementedError, AttributeError):
            return default
        except StackmlError:
            return default

    @cached_property
    def model(self) -> RegisteredModel:
        """The registered model."""
        return self.meta.get_registered_model(self.version.model)

    @cached_property
    def run(self) -> Run | None:
        """The run the version was created from."""
        return self.optional(lambda: self.meta.get_run(self.version.run_id), None)

    @property
    def project(self) -> str | None:
        """The run's project."""
        return None if self.run is None else self.run.project

    @cached_property
    def versions(self) -> list[ModelVersion]:
        """Every version of the model, oldest first."""
        return sorted(self.meta.list_model_versions(self.version.model), key=lambda v: v.version)

    @cached_property
    def previous(self) -> ModelVersion | None:
        """The version registered just before this one (not a compressed variant of it)."""
        older = [
            v for v in self.versions if v.version < self.version.version and not v.source_version
        ]
        return older[-1] if older else None

    @cached_property
    def alias_history(self) -> list[ModelAliasEvent]:
        """Every alias move of the model."""
        return self.optional(lambda: self.meta.model_alias_history(self.version.model), [])

    @cached_property
    def datasets(self) -> list[DatasetVersion]:
        """The dataset versions the model was trained on (those still readable)."""
        found = []
        for ref in self.version.dataset_versions:
            name, _, ident = ref.partition("@")
            with contextlib.suppress(StackmlError):
                found.append(self.meta.get_dataset_version(name, ident or "latest"))
        return found

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        """The model's record inputs, from its signature's input schema."""
        schema = (self.version.signature or {}).get("input_schema") or {}
        return tuple(c["name"] for c in schema.get("columns", ()))

    @cached_property
    def input_columns(self) -> tuple[str, ...]:
        """What the model reads: its record features, else every column of its training
        tables (an image model's label table, say)."""
        if self.feature_names:
            return self.feature_names
        columns: list[str] = []
        for dv in self.datasets:
            columns += [c["name"] for c in dv.schema.get("columns", ())]
        return tuple(dict.fromkeys(columns))

    def project_runs(self, filter: str, limit: int = 1) -> list[Run]:
        """Runs of the model's project matching a filter, newest first."""
        if self.project is None:
            return []
        return self.optional(
            lambda: list(
                self.meta.search_runs(project=self.project, filter=filter, limit=limit).runs
            ),
            [],
        )

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call an optional store method; ``None`` when the store has no such data."""
        fn = getattr(self.meta, method, None)
        if fn is None:
            return None
        return self.optional(lambda: fn(*args, **kwargs), None)
