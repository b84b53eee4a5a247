"""SQL implementation of :class:`~stackml.store.datasets_base.DatasetStore`.

The module functions run inside one :meth:`Database.transact` each;
:class:`~stackml.store.sql.datasets_store.SqlDatasetStore` validates input and calls them.
A new version's number is taken inside the write transaction (the write lock serialises
concurrent adds), and its id is the content hash of its manifest, table, schema and
metadata including that number, so two concurrent adds of the same data still produce two
distinct versions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, func, select, update

from stackml._internal.hashing import hash_bytes, is_content_hash
from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.store.datasets_base import (
    LATEST,
    NUMBER_REF,
    SHORT_ID_LENGTH,
    VERSION_KINDS,
    AliasEvent,
    Dataset,
    DatasetVersion,
    VersionDraft,
)
from stackml.store.sql import inputs
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.models_datasets import (
    DatasetAliasEventRow,
    DatasetAliasRow,
    DatasetBlobRow,
    DatasetRow,
    DatasetVersionRow,
)

DATASETS: Table = cast(Table, DatasetRow.__table__)
VERSIONS: Table = cast(Table, DatasetVersionRow.__table__)
BLOBS: Table = cast(Table, DatasetBlobRow.__table__)
ALIASES: Table = cast(Table, DatasetAliasRow.__table__)
EVENTS: Table = cast(Table, DatasetAliasEventRow.__table__)
_HEX_PREFIX = re.compile(r"^[0-9a-f]{4,32}$")
_DIGEST_BYTES = 32


def _json(value: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object")
    try:
        return dict(json.loads(json.dumps(dict(value), allow_nan=False)))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} must be plain JSON (no NaN): {error}") from error


def _digest(value: object) -> str:
    if not isinstance(value, str) or not is_content_hash(value):
        raise InvalidInput(f"{value!r} is not a blob hash (64 lowercase hex characters)")
    return value


_HEX_RUN = re.compile(r"[0-9a-f]*")


def _sorted_unique(values: Iterable[str]) -> list[str]:
    """Sorted and distinct; linear when ``values`` come sorted (as the SDK sends them)."""
    return list(dict.fromkeys(sorted(values)))


def _digests(values: Iterable[object]) -> list[str]:
    """Sorted distinct blob hashes, checked in bulk: a version may name tens of thousands."""
    items = list(values)
    try:
        joined = "".join(items)  # type: ignore[arg-type]
    except TypeError:  # not all text: the check below names the culprit
        joined = None
    if (
        joined is not None
        and set(map(len, items)) <= {64}  # type: ignore[arg-type]
        and _HEX_RUN.fullmatch(joined)
    ):
        return _sorted_unique(items)  # type: ignore[arg-type]
    return sorted({_digest(h) for h in items})


def check_draft(draft: VersionDraft) -> VersionDraft:
    """Validate every field of a draft; return a normalised copy."""
    if not isinstance(draft, VersionDraft):
        raise InvalidInput("create_dataset_version needs a VersionDraft")
    if draft.kind not in VERSION_KINDS:
        raise InvalidInput(f"version kind must be one of {', '.join(VERSION_KINDS)}")
    hashes = _digests(draft.blob_hashes)
    manifest = None if draft.manifest_hash is None else _digest(draft.manifest_hash)
    table = None if draft.table_hash is None else _digest(draft.table_hash)
    if manifest is None and table is None:
        raise InvalidInput("a dataset version needs a manifest, a table or both")
    rows = None if draft.num_rows is None else inputs.non_negative_int(draft.num_rows, "rows")
    if not isinstance(draft.message, str) or len(draft.message) > inputs.MAX_VALUE:
        raise InvalidInput("a version message must be text of at most 65535 characters")
    return VersionDraft(
        dataset=inputs.name(draft.dataset, "dataset name"),
        kind=draft.kind,
        manifest_hash=manifest,
        table_hash=table,
        blob_hashes=tuple(hashes),
        num_files=inputs.non_negative_int(draft.num_files, "file count"),
        num_rows=rows,
        size_bytes=inputs.non_negative_int(draft.size_bytes, "size"),
        message=draft.message,
        author=inputs.label(draft.author or "unknown", "author"),
        schema=_json(draft.schema, "schema"),
        splits=_json(draft.splits, "splits"),
        transform=_json(draft.transform, "transform"),
        parent_id=None if draft.parent_id is None else check_ref(draft.parent_id),
        created_at=inputs.non_negative_int(draft.created_at, "created_at") or now_ms(),
    )


def check_ref(ref: object) -> str:
    """A version ref: an id, ``vN`` or an alias."""
    return inputs.name(ref, "version ref")


def check_alias(alias: object) -> str:
    alias = inputs.name(alias, "alias")
    if NUMBER_REF.fullmatch(alias) or _HEX_PREFIX.fullmatch(alias):
        raise InvalidInput(f"alias {alias!r} looks like a version number or id; pick another")
    return alias


def version_id(draft: VersionDraft, number: int, parent: str | None) -> str:
    """The short content id of a version."""
    payload = {
        "dataset": draft.dataset,
        "number": number,
        "parent": parent,
        "manifest": draft.manifest_hash,
        "table": draft.table_hash,
        "schema": draft.schema,
        "splits": draft.splits,
        "transform": draft.transform,
        "message": draft.message,
        "author": draft.author,
        "created_at": draft.created_at,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hash_bytes(text.encode())[:SHORT_ID_LENGTH]


def _aliases_of(conn: Connection, ids: list[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    if not ids:
        return {}
    query = select(ALIASES.c.version_id, ALIASES.c.alias).where(ALIASES.c.version_id.in_(ids))
    for vid, alias in conn.execute(query.order_by(ALIASES.c.alias)):
        found.setdefault(vid, []).append(alias)
    return {k: tuple(v) for k, v in found.items()}


def _snapshot(row: Any, aliases: tuple[str, ...] = ()) -> DatasetVersion:
    return DatasetVersion(
        id=row.id,
        dataset=row.dataset,
        number=row.number,
        parent_id=row.parent_id,
        message=row.message,
        author=row.author,
        created_at=row.created_at,
        kind=row.kind,
        manifest_hash=row.manifest_hash,
        table_hash=row.table_hash,
        num_files=row.num_files,
        num_rows=row.num_rows,
        size_bytes=row.size_bytes,
        schema=dict(row.schema or {}),
        splits=dict(row.splits or {}),
        transform=dict(row.transform or {}),
        aliases=aliases,
        deleted=row.deleted_at is not None,
    )


def _require_dataset(conn: Connection, dataset: str) -> None:
    if conn.execute(select(DATASETS.c.name).where(DATASETS.c.name == dataset)).first() is None:
        raise NotFound(f"dataset {dataset!r} does not exist; add one with `stackml data add`")


def resolve(conn: Connection, dataset: str, ref: str) -> Any:
    """The version row a ref names. Raises ``NotFound``; ``InvalidInput`` if ambiguous."""
    _require_dataset(conn, dataset)
    base = select(VERSIONS).where(VERSIONS.c.dataset == dataset)
    number = NUMBER_REF.fullmatch(ref)
    if number:
        row = conn.execute(base.where(VERSIONS.c.number == int(number.group(1)))).first()
    else:
        alias = conn.execute(
            select(ALIASES.c.version_id).where(ALIASES.c.dataset == dataset, ALIASES.c.alias == ref)
        ).first()
        if alias is not None:
            row = conn.execute(base.where(VERSIONS.c.id == alias[0])).first()
        elif _HEX_PREFIX.fullmatch(ref):
            rows = conn.execute(base.where(VERSIONS.c.id.like(f"{ref}%")).limit(2)).all()
            if len(rows) > 1:
                raise InvalidInput(f"version prefix {ref!r} of {dataset!r} is ambiguous")
            row = rows[0] if rows else None
        else:
            row = None
    if row is None:
        raise NotFound(
            f"dataset {dataset!r} has no version {ref!r}; "
            f"list them with `stackml data ls {dataset}`"
        )
    return row


def _move_alias(
    conn: Connection, dataset: str, alias: str, version: str | None, author: str, when: int
) -> AliasEvent:
    conn.execute(delete(ALIASES).where(ALIASES.c.dataset == dataset, ALIASES.c.alias == alias))
    if version is not None:
        conn.execute(ALIASES.insert().values(dataset=dataset, alias=alias, version_id=version))
    conn.execute(
        EVENTS.insert().values(
            dataset=dataset, alias=alias, version_id=version, moved_at=when, author=author
        )
    )
    return AliasEvent(dataset, alias, version, when, author)


def create_version(conn: Connection, draft: VersionDraft) -> DatasetVersion:
    conn.execute(
        dialect_insert(conn, DATASETS)
        .values(name=draft.dataset, created_at=draft.created_at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    # Serialise adds to one dataset (PostgreSQL; SQLite's BEGIN IMMEDIATE already does), so
    # two concurrent adds never take the same number.
    conn.execute(select(DATASETS.c.name).where(DATASETS.c.name == draft.dataset).with_for_update())
    if draft.parent_id is not None:
        parent: str | None = resolve(conn, draft.dataset, draft.parent_id).id
    else:
        latest = conn.execute(
            select(ALIASES.c.version_id).where(
                ALIASES.c.dataset == draft.dataset, ALIASES.c.alias == LATEST
            )
        ).first()
        parent = latest[0] if latest else None
    top = conn.execute(
        select(func.max(VERSIONS.c.number)).where(VERSIONS.c.dataset == draft.dataset)
    ).scalar()
    number = (top or 0) + 1
    vid = version_id(draft, number, parent)
    conn.execute(
        VERSIONS.insert().values(
            id=vid,
            dataset=draft.dataset,
            number=number,
            parent_id=parent,
            message=draft.message,
            author=draft.author,
            created_at=draft.created_at,
            kind=draft.kind,
            manifest_hash=draft.manifest_hash,
            table_hash=draft.table_hash,
            num_files=draft.num_files,
            num_rows=draft.num_rows,
            size_bytes=draft.size_bytes,
            schema=dict(draft.schema),
            splits=dict(draft.splits),
            transform=dict(draft.transform),
            deleted_at=None,
        )
    )
    extra = [h for h in (draft.manifest_hash, draft.table_hash) if h]
    hashes = [*draft.blob_hashes, *extra] if extra else draft.blob_hashes
    conn.execute(BLOBS.insert().values(version_id=vid, digests=pack_digests(hashes)))
    _move_alias(conn, draft.dataset, LATEST, vid, draft.author, draft.created_at)
    row = conn.execute(select(VERSIONS).where(VERSIONS.c.id == vid)).one()
    return _snapshot(row, (LATEST,))


def list_datasets(conn: Connection) -> list[Dataset]:
    live = VERSIONS.c.deleted_at.is_(None)
    counts: dict[str, int] = dict(
        conn.execute(  # type: ignore[arg-type]
            select(VERSIONS.c.dataset, func.count()).where(live).group_by(VERSIONS.c.dataset)
        ).all()
    )
    latest = dict(
        conn.execute(  # type: ignore[arg-type]
            select(ALIASES.c.dataset, ALIASES.c.version_id).where(ALIASES.c.alias == LATEST)
        ).all()
    )
    rows = conn.execute(select(DATASETS).order_by(DATASETS.c.name)).all()
    return [Dataset(r.name, r.created_at, counts.get(r.name, 0), latest.get(r.name)) for r in rows]


def list_versions(conn: Connection, dataset: str, include_deleted: bool) -> list[DatasetVersion]:
    _require_dataset(conn, dataset)
    query = select(VERSIONS).where(VERSIONS.c.dataset == dataset)
    if not include_deleted:
        query = query.where(VERSIONS.c.deleted_at.is_(None))
    rows = conn.execute(query.order_by(VERSIONS.c.number.desc())).all()
    aliases = _aliases_of(conn, [r.id for r in rows])
    return [_snapshot(r, aliases.get(r.id, ())) for r in rows]


def get_version(conn: Connection, dataset: str, ref: str) -> DatasetVersion:
    row = resolve(conn, dataset, ref)
    return _snapshot(row, _aliases_of(conn, [row.id]).get(row.id, ()))


def set_alias(
    conn: Connection, dataset: str, alias: str, ref: str | None, author: str
) -> AliasEvent:
    target = None
    if ref is not None:
        row = resolve(conn, dataset, ref)
        if row.deleted_at is not None:
            raise InvalidInput(f"version {row.id} of {dataset!r} is deleted; it cannot be aliased")
        target = row.id
    else:
        _require_dataset(conn, dataset)
    return _move_alias(conn, dataset, alias, target, author, now_ms())


def alias_history(conn: Connection, dataset: str, alias: str | None) -> list[AliasEvent]:
    _require_dataset(conn, dataset)
    query = select(EVENTS).where(EVENTS.c.dataset == dataset)
    if alias is not None:
        query = query.where(EVENTS.c.alias == alias)
    rows = conn.execute(query.order_by(EVENTS.c.id)).all()
    return [AliasEvent(r.dataset, r.alias, r.version_id, r.moved_at, r.author) for r in rows]


def delete_version(conn: Connection, dataset: str, ref: str, author: str) -> DatasetVersion:
    row = resolve(conn, dataset, ref)
    when = now_ms()
    if row.deleted_at is None:
        conn.execute(update(VERSIONS).where(VERSIONS.c.id == row.id).values(deleted_at=when))
    held = conn.execute(
        select(ALIASES.c.alias).where(ALIASES.c.version_id == row.id).order_by(ALIASES.c.alias)
    ).all()
    for (alias,) in held:
        _move_alias(conn, dataset, alias, None, author, when)
    newest = conn.execute(
        select(VERSIONS.c.id)
        .where(VERSIONS.c.dataset == dataset, VERSIONS.c.deleted_at.is_(None))
        .order_by(VERSIONS.c.number.desc())
        .limit(1)
    ).first()
    current = conn.execute(
        select(ALIASES.c.version_id).where(ALIASES.c.dataset == dataset, ALIASES.c.alias == LATEST)
    ).first()
    if newest is not None and current is None:
        _move_alias(conn, dataset, LATEST, newest[0], author, when)
    final = conn.execute(select(VERSIONS).where(VERSIONS.c.id == row.id)).one()
    return _snapshot(final, ())


def pack_digests(hashes: Iterable[str]) -> bytes:
    """Sorted, distinct hex digests as one value of 32-byte binary digests back to back."""
    return bytes.fromhex("".join(_sorted_unique(hashes)))


def unpack_digests(packed: bytes) -> Iterator[str]:
    """The hex digests of :func:`pack_digests`."""
    text = bytes(packed).hex()
    step = 2 * _DIGEST_BYTES
    for start in range(0, len(text), step):
        yield text[start : start + step]


def referenced_blobs(conn: Connection) -> Iterator[str]:
    """Blobs of every version that is not soft-deleted (each once)."""
    query = (
        select(BLOBS.c.digests)
        .join(VERSIONS, VERSIONS.c.id == BLOBS.c.version_id)
        .where(VERSIONS.c.deleted_at.is_(None))
    )
    seen: set[str] = set()
    for (packed,) in conn.execute(query):
        for digest in unpack_digests(packed):
            if digest not in seen:
                seen.add(digest)
                yield digest
