"""Naming model versions and their sources.

A **ref** names a version: ``NAME@N`` (version number, ``NAME@vN`` too), ``NAME@ALIAS``
(``digits@production``) or ``NAME`` alone (the latest version). :func:`resolve` turns one into
``(name, version)`` with one or two cheap store reads, so serving can poll it to notice an
alias that moved.

A **source** says where a version's files are: an artifact of the run that made them. It is
written ``runs:/<run_id>/<artifact path>`` or given as ``run_id`` plus ``artifact_path``.
Everything else is refused before the store is asked: ``file://`` and other URIs, absolute
and relative local paths, ``..`` segments, percent-encoded or backslashed variants, and
``runs:/`` URIs naming another run than the one given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from stackml._internal.names import InvalidName, validate_name, validate_relative_path
from stackml.errors import InvalidInput

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.base import MetadataStore

__all__ = ["ModelRef", "Source", "parse_ref", "parse_source", "resolve", "version_ref"]

#: The prefix of a run-artifact source URI.
RUNS_SCHEME = "runs:/"
_NUMBER = re.compile(r"^v?([0-9]{1,9})$")
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: ``NAME`` alone means this.
LATEST = "latest"


@dataclass(frozen=True)
class ModelRef:
    """A parsed ref: the model name and either a version number or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias or LATEST}"


def _name(value: str, what: str) -> str:
    try:
        return validate_name(value, what=what)
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


def parse_ref(ref: str) -> ModelRef:
    """Parse ``NAME``, ``NAME@N``, ``NAME@vN`` or ``NAME@ALIAS``. Raises ``InvalidInput``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("a model ref is NAME, NAME@VERSION or NAME@ALIAS")
    name, sep, selector = ref.partition("@")
    name = _name(name, "model name")
    if not sep or selector == LATEST:
        return ModelRef(name)
    match = _NUMBER.fullmatch(selector)
    if match:
        number = int(match.group(1))
        if number < 1:
            raise InvalidInput(f"{ref!r}: version numbers start at 1")
        return ModelRef(name, version=number)
    return ModelRef(name, alias=_name(selector, "alias"))


def version_ref(name: str, version: int) -> str:
    """``name@N``, the id of a model version in lineage edges."""
    return f"{name}@{version}"


def _metadata(store: Store | MetadataStore) -> MetadataStore:
    return cast("MetadataStore", getattr(store, "metadata", store))


def resolve(ref: str | ModelRef, store: Store | MetadataStore) -> tuple[str, int]:
    """``(name, version)`` the ref names now. Raises ``NotFound`` / ``InvalidInput``."""
    from stackml.errors import NotFound

    parsed = ref if isinstance(ref, ModelRef) else parse_ref(ref)
    meta = _metadata(store)
    if parsed.version is not None:
        return parsed.name, meta.get_model_version(parsed.name, parsed.version).version
    if parsed.alias is not None:
        return parsed.name, meta.get_model_alias(parsed.name, parsed.alias)
    latest = meta.get_registered_model(parsed.name).latest_version
    if latest is None:
        raise NotFound(f"model {parsed.name!r} has no versions yet")
    return parsed.name, latest


@dataclass(frozen=True)
class Source:
    """A checked source: a run and a logical artifact path inside it."""

    run_id: str
    artifact_path: str

    @property
    def uri(self) -> str:
        return f"{RUNS_SCHEME}{self.run_id}/{self.artifact_path}"


def _refuse(source: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"refused model source {source!r}: {why}. A version's source must be an artifact of "
        f"its run: pass run_id and artifact_path, or {RUNS_SCHEME}<run_id>/<artifact path>"
    )


def _artifact_path(raw: str, source: str) -> str:
    if "%" in raw or "\\" in raw:
        raise _refuse(source, "percent-encoded or backslashed paths are not artifact paths")
    if raw.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", raw):
        raise _refuse(source, "a local absolute path is not an artifact of a run")
    if "://" in raw or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", raw):
        raise _refuse(source, "only run artifacts are accepted, not other URIs")
    try:
        return validate_relative_path(raw, what="artifact path")
    except InvalidName as error:
        raise _refuse(source, str(error)) from error


def parse_source(
    source: str | None = None, *, run_id: str | None = None, artifact_path: str | None = None
) -> Source:
    """Check where a version's files are said to be; see the module docstring.

    Raises:
        InvalidInput: The source is not a run artifact path of the given run.
    """
    if source is not None and artifact_path is not None:
        raise InvalidInput("give either a source URI or an artifact path, not both")
    if source is None:
        if artifact_path is None or run_id is None:
            raise InvalidInput("a model version needs its run (run_id) and an artifact_path")
        if not isinstance(artifact_path, str):
            raise InvalidInput("artifact_path must be a string")
        if artifact_path.startswith(RUNS_SCHEME):
            return parse_source(artifact_path, run_id=run_id)
        path = _artifact_path(artifact_path, artifact_path)
        return Source(_run_id(run_id), path)
    if not isinstance(source, str) or not source.startswith(RUNS_SCHEME):
        raise _refuse(str(source), f"only {RUNS_SCHEME} URIs name run artifacts")
    rest = source[len(RUNS_SCHEME) :]
    owner, sep, path = rest.partition("/")
    if not sep or not path:
        raise _refuse(source, f"expected {RUNS_SCHEME}<run_id>/<artifact path>")
    if "%" in owner or not _RUN_ID.fullmatch(owner):
        raise _refuse(source, "the run id is malformed")
    if run_id is not None and owner != run_id:
        raise _refuse(source, f"it names run {owner}, not this version's run {run_id}")
    return Source(owner, _artifact_path(path, source))


def _run_id(value: object) -> str:
    if not isinstance(value, str) or not _RUN_ID.fullmatch(value):
        raise InvalidInput(f"invalid run id {value!r}")
    return value
