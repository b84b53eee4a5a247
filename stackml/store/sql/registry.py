"""SQL implementation of :class:`~stackml.store.registry_base.RegistryStore`.

The module functions run inside one :meth:`Database.transact` each;
:class:`~stackml.store.sql.registry_store.SqlRegistryStore` validates input and calls them.
A new version's number is taken inside the write transaction with the model row locked, so
concurrent registrations get distinct numbers; its files are checked against the run's
artifact rows in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.registry_base import (
    ModelAliasEvent,
    ModelFile,
    ModelVersion,
    ModelVersionDraft,
    RegisteredModel,
)
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.models import ArtifactRow, RunRow
from stackml.store.sql.models_registry import (
    ModelAliasEventRow,
    ModelAliasRow,
    ModelVersionRow,
    RegisteredModelRow,
)

MODELS: Table = cast(Table, RegisteredModelRow.__table__)
VERSIONS: Table = cast(Table, ModelVersionRow.__table__)
ALIASES: Table = cast(Table, ModelAliasRow.__table__)
EVENTS: Table = cast(Table, ModelAliasEventRow.__table__)
ARTIFACTS: Table = cast(Table, ArtifactRow.__table__)
RUNS: Table = cast(Table, RunRow.__table__)


def plain_json(value: Any, what: str) -> Any:
    """``value`` as plain JSON (no NaN), or ``InvalidInput``."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} must be plain JSON (no NaN): {error}") from error


def _aliases(conn: Connection, name: str) -> dict[str, int]:
    query = select(ALIASES.c.alias, ALIASES.c.version).where(ALIASES.c.model == name)
    return {a: v for a, v in conn.execute(query.order_by(ALIASES.c.alias))}


def _model(conn: Connection, row: Any) -> RegisteredModel:
    stats = conn.execute(
        select(func.count(), func.max(VERSIONS.c.version)).where(VERSIONS.c.model == row.name)
    ).one()
    return RegisteredModel(
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=dict(row.tags),
        gates={k: list(v) for k, v in row.gates.items()},
        version_count=int(stats[0]),
        latest_version=stats[1],
        aliases=_aliases(conn, row.name),
    )


def _version(row: Any, aliases: Mapping[str, int]) -> ModelVersion:
    return ModelVersion(
        model=row.model,
        version=row.version,
        run_id=row.run_id,
        artifact_path=row.artifact_path,
        format=row.format,
        files=tuple(ModelFile(f["path"], f["blob_hash"], f["size"]) for f in row.files),
        signature=dict(row.signature),
        metrics=dict(row.metrics),
        meta=dict(row.meta),
        description=row.description,
        tags=dict(row.tags),
        author=row.author,
        created_at=row.created_at,
        code_commit=row.code_commit,
        dataset_versions=tuple(row.dataset_versions),
        source_version=row.source_version,
        aliases=tuple(sorted(a for a, v in aliases.items() if v == row.version)),
    )


def _event(row: Any) -> ModelAliasEvent:
    return ModelAliasEvent(
        model=row.model,
        alias=row.alias,
        version=row.version,
        previous=row.previous,
        action=row.action,
        author=row.author,
        reason=row.reason,
        moved_at=row.moved_at,
        gates=dict(row.gates),
    )


def require_model(conn: Connection, name: str, *, lock: bool = False) -> Any:
    query = select(MODELS).where(MODELS.c.name == name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"no registered model {name!r}; register a version first")
    return row


def create_model(
    conn: Connection, name: str, description: str, tags: Mapping[str, str], *, strict: bool
) -> None:
    """Insert the model row; ``strict`` raises ``AlreadyExists`` when it is there."""
    now = now_ms()
    values = {
        "name": name,
        "description": description,
        "created_at": now,
        "updated_at": now,
        "tags": dict(tags),
        "gates": {},
    }
    result = conn.execute(
        dialect_insert(conn, MODELS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(MODELS.c.name)
    )
    if strict and result.first() is None:
        raise AlreadyExists(f"registered model {name!r} already exists")


def get_model(conn: Connection, name: str) -> RegisteredModel:
    return _model(conn, require_model(conn, name))


def list_models(conn: Connection) -> list[RegisteredModel]:
    rows = conn.execute(select(MODELS).order_by(MODELS.c.name)).all()
    return [_model(conn, row) for row in rows]


def update_model(conn: Connection, name: str, changes: Mapping[str, Any]) -> RegisteredModel:
    require_model(conn, name, lock=True)
    if changes:
        conn.execute(
            update(MODELS).where(MODELS.c.name == name).values(**changes, updated_at=now_ms())
        )
    return get_model(conn, name)


def _check_files(conn: Connection, draft: ModelVersionDraft) -> None:
    """Every file must be an artifact of the draft's run, at or under ``artifact_path``, with
    the recorded blob hash."""
    run = conn.execute(select(RUNS.c.id).where(RUNS.c.id == draft.run_id)).first()
    if run is None:
        raise NotFound(f"run {draft.run_id!r} not found")
    root = draft.artifact_path
    wanted = {f.path: f for f in draft.files}
    for path in wanted:
        if path != root and not path.startswith(root + "/"):
            raise InvalidInput(f"model file {path!r} is not under artifact path {root!r}")
    found = {
        path: digest
        for path, digest in conn.execute(
            select(ARTIFACTS.c.path, ARTIFACTS.c.blob_hash).where(
                ARTIFACTS.c.run_id == draft.run_id, ARTIFACTS.c.path.in_(list(wanted))
            )
        )
    }
    for path, file in wanted.items():
        if path not in found:
            raise InvalidInput(
                f"{path!r} is not an artifact of run {draft.run_id}: a model version's source "
                "must lie inside its run's artifacts"
            )
        if found[path] != file.blob_hash:
            raise InvalidInput(
                f"artifact {path!r} of run {draft.run_id} holds blob {found[path][:12]}, "
                f"not {file.blob_hash[:12]}"
            )


def create_version(conn: Connection, draft: ModelVersionDraft) -> ModelVersion:
    _check_files(conn, draft)
    create_model(conn, draft.model, "", {}, strict=False)
    require_model(conn, draft.model, lock=True)
    latest = conn.execute(
        select(func.max(VERSIONS.c.version)).where(VERSIONS.c.model == draft.model)
    ).scalar()
    number = int(latest or 0) + 1
    conn.execute(
        VERSIONS.insert().values(
            model=draft.model,
            version=number,
            run_id=draft.run_id,
            artifact_path=draft.artifact_path,
            format=draft.format,
            files=[{"path": f.path, "blob_hash": f.blob_hash, "size": f.size} for f in draft.files],
            signature=dict(draft.signature),
            metrics=dict(draft.metrics),
            meta=dict(draft.meta),
            description=draft.description,
            tags=dict(draft.tags),
            author=draft.author,
            created_at=draft.created_at,
            code_commit=draft.code_commit,
            dataset_versions=list(draft.dataset_versions),
            source_version=draft.source_version,
        )
    )
    conn.execute(
        update(MODELS).where(MODELS.c.name == draft.model).values(updated_at=draft.created_at)
    )
    return get_version(conn, draft.model, number)


def get_version(conn: Connection, name: str, number: int) -> ModelVersion:
    require_model(conn, name)
    row = conn.execute(
        select(VERSIONS).where(VERSIONS.c.model == name, VERSIONS.c.version == number)
    ).first()
    if row is None:
        raise NotFound(f"model {name!r} has no version {number}")
    return _version(row, _aliases(conn, name))


def list_versions(conn: Connection, name: str) -> list[ModelVersion]:
    require_model(conn, name)
    aliases = _aliases(conn, name)
    rows = conn.execute(
        select(VERSIONS).where(VERSIONS.c.model == name).order_by(VERSIONS.c.version.desc())
    )
    return [_version(row, aliases) for row in rows]


def get_alias(conn: Connection, name: str, alias: str) -> int:
    require_model(conn, name)
    number = conn.execute(
        select(ALIASES.c.version).where(ALIASES.c.model == name, ALIASES.c.alias == alias)
    ).scalar()
    if number is None:
        raise NotFound(f"model {name!r} has no alias {alias!r}")
    return int(number)


def set_alias(
    conn: Connection, name: str, alias: str, number: int | None, event: Mapping[str, Any]
) -> ModelAliasEvent:
    require_model(conn, name, lock=True)
    previous = conn.execute(
        select(ALIASES.c.version).where(ALIASES.c.model == name, ALIASES.c.alias == alias)
    ).scalar()
    if number is None:
        if previous is None:
            raise NotFound(f"model {name!r} has no alias {alias!r} to remove")
        conn.execute(delete(ALIASES).where(ALIASES.c.model == name, ALIASES.c.alias == alias))
    else:
        get_version(conn, name, number)
        if previous is None:
            conn.execute(ALIASES.insert().values(model=name, alias=alias, version=number))
        else:
            conn.execute(
                update(ALIASES)
                .where(ALIASES.c.model == name, ALIASES.c.alias == alias)
                .values(version=number)
            )
    values = {
        "model": name,
        "alias": alias,
        "version": number,
        "previous": previous,
        "moved_at": now_ms(),
        **event,
    }
    conn.execute(EVENTS.insert().values(**values))
    conn.execute(update(MODELS).where(MODELS.c.name == name).values(updated_at=values["moved_at"]))
    row = conn.execute(
        select(EVENTS)
        .where(EVENTS.c.model == name, EVENTS.c.alias == alias)
        .order_by(EVENTS.c.id.desc())
        .limit(1)
    ).one()
    return _event(row)


def alias_history(conn: Connection, name: str, alias: str | None) -> list[ModelAliasEvent]:
    require_model(conn, name)
    query = select(EVENTS).where(EVENTS.c.model == name)
    if alias is not None:
        query = query.where(EVENTS.c.alias == alias)
    return [_event(row) for row in conn.execute(query.order_by(EVENTS.c.id))]


def referenced_blobs(conn: Connection) -> Iterator[str]:
    """Blob hashes of every model version's files (kept even if an artifact is overwritten)."""
    for (files,) in conn.execute(select(VERSIONS.c.files)):
        for f in files:
            yield str(f["blob_hash"])


def check_files(files: Sequence[ModelFile]) -> tuple[ModelFile, ...]:
    """Validated, distinct, path-sorted files (at least one)."""
    from stackml.store.sql import inputs

    if not files:
        raise InvalidInput("a model version needs at least one file")
    checked: dict[str, ModelFile] = {}
    for f in files:
        if not isinstance(f, ModelFile):
            raise InvalidInput("model version files must be ModelFile records")
        path = inputs.path(f.path, "model file path")
        if path in checked:
            raise InvalidInput(f"model file {path!r} is listed twice")
        checked[path] = ModelFile(
            path, inputs.blob_hash(f.blob_hash), inputs.non_negative_int(f.size, "file size")
        )
    return tuple(checked[p] for p in sorted(checked))
