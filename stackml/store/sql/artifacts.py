"""Artifact records and lineage edges: rows and queries, run inside a store transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, and_, delete, or_, select

from stackml.errors import InvalidInput, NotFound
from stackml.store.entities import Artifact, LineageEdge
from stackml.store.sql import snapshots
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.snapshots import ARTIFACTS, EDGES

DIRECTIONS = ("upstream", "downstream", "both")


def log_artifact(conn: Connection, artifact: Artifact) -> Artifact:
    stmt = dialect_insert(conn, ARTIFACTS).values(
        run_id=artifact.run_id,
        path=artifact.path,
        blob_hash=artifact.blob_hash,
        size=artifact.size,
        media_type=artifact.media_type,
        created_at=artifact.created_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "path"],
        set_={
            "blob_hash": stmt.excluded.blob_hash,
            "size": stmt.excluded.size,
            "media_type": stmt.excluded.media_type,
            "created_at": stmt.excluded.created_at,
        },
    )
    conn.execute(stmt)
    return get_artifact(conn, artifact.run_id, artifact.path)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_artifacts(conn: Connection, run_id: str, prefix: str | None) -> list[Artifact]:
    query = select(ARTIFACTS).where(ARTIFACTS.c.run_id == run_id).order_by(ARTIFACTS.c.path)
    if prefix is not None:
        # A prefix names a folder: "model" matches "model" and "model/…", not "models.txt".
        query = query.where(
            or_(
                ARTIFACTS.c.path == prefix,
                ARTIFACTS.c.path.like(_escape_like(prefix) + "/%", escape="\\"),
            )
        )
    return [snapshots.artifact(row) for row in conn.execute(query)]


def delete_artifacts(conn: Connection, run_id: str, path: str) -> int:
    """Delete the record at ``path`` and those under the folder ``path``; returns how many."""
    result = conn.execute(
        delete(ARTIFACTS)
        .where(
            ARTIFACTS.c.run_id == run_id,
            or_(
                ARTIFACTS.c.path == path,
                ARTIFACTS.c.path.like(_escape_like(path) + "/%", escape="\\"),
            ),
        )
        .returning(ARTIFACTS.c.path)
    )
    return len(result.all())


def get_artifact(conn: Connection, run_id: str, path: str) -> Artifact:
    row = conn.execute(
        select(ARTIFACTS).where(ARTIFACTS.c.run_id == run_id, ARTIFACTS.c.path == path)
    ).first()
    if row is None:
        raise NotFound(f"run {run_id!r} has no artifact {path!r}")
    return snapshots.artifact(row)


def referenced_blobs(conn: Connection) -> Iterator[str]:
    query = select(ARTIFACTS.c.blob_hash).distinct().order_by(ARTIFACTS.c.blob_hash)
    for (blob_hash,) in conn.execute(query):
        yield blob_hash


def _identity(edge: LineageEdge) -> Any:
    return and_(
        EDGES.c.source_type == edge.source_type,
        EDGES.c.source_id == edge.source_id,
        EDGES.c.target_type == edge.target_type,
        EDGES.c.target_id == edge.target_id,
        EDGES.c.role == edge.role,
    )


def add_lineage(conn: Connection, edge: LineageEdge) -> LineageEdge:
    stmt = (
        dialect_insert(conn, EDGES)
        .values(
            source_type=edge.source_type,
            source_id=edge.source_id,
            target_type=edge.target_type,
            target_id=edge.target_id,
            role=edge.role,
            properties=dict(edge.properties),
            created_at=edge.created_at,
        )
        .on_conflict_do_nothing(
            index_elements=["source_type", "source_id", "target_type", "target_id", "role"]
        )
    )
    conn.execute(stmt)
    return snapshots.edge(conn.execute(select(EDGES).where(_identity(edge))).one())


def list_lineage(
    conn: Connection, entity_type: str, entity_id: str, direction: str
) -> list[LineageEdge]:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    upstream = and_(EDGES.c.target_type == entity_type, EDGES.c.target_id == entity_id)
    downstream = and_(EDGES.c.source_type == entity_type, EDGES.c.source_id == entity_id)
    condition = {"upstream": upstream, "downstream": downstream}.get(
        direction, or_(upstream, downstream)
    )
    query = select(EDGES).where(condition).order_by(EDGES.c.created_at, EDGES.c.id)
    return [snapshots.edge(row) for row in conn.execute(query)]
