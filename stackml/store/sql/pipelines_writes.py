"""The one-transaction write of a pipeline runner's records (see ``PipelineWrites``).

Every record is checked as the single-record methods check it; then step runs, cache
entries, artifacts, lineage edges and run closures go to the database together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.store.entities import Artifact, LineageEdge, RunStatus
from stackml.store.pipelines_base import FinishedRun, PipelineWrites
from stackml.store.sql import inputs
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.snapshots import ARTIFACTS, EDGES, RUNS

__all__ = ["apply_writes", "check_writes"]


def _artifact(a: Artifact) -> Artifact:
    if not isinstance(a, Artifact):
        raise InvalidInput("pipeline writes carry Artifact records")
    return Artifact(
        run_id=inputs.identifier(a.run_id),
        path=inputs.path(a.path),
        blob_hash=inputs.blob_hash(a.blob_hash),
        size=inputs.non_negative_int(a.size, "artifact size"),
        media_type=inputs.media_type(a.media_type),
        created_at=inputs.non_negative_int(a.created_at, "created_at") or now_ms(),
    )


def _edge(e: LineageEdge) -> LineageEdge:
    if not isinstance(e, LineageEdge) or not isinstance(e.properties, Mapping):
        raise InvalidInput("pipeline writes carry LineageEdge records with mapping properties")
    try:
        properties = json.loads(json.dumps(dict(e.properties), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"lineage properties must be plain JSON: {error}") from error
    return replace(
        e,
        source_type=inputs.name(e.source_type, "lineage source type"),
        source_id=inputs.label(e.source_id, "lineage source id"),
        target_type=inputs.name(e.target_type, "lineage target type"),
        target_id=inputs.label(e.target_id, "lineage target id"),
        role=inputs.name(e.role, "lineage role"),
        properties=properties,
        created_at=inputs.non_negative_int(e.created_at, "created_at") or now_ms(),
    )


def _finished(f: FinishedRun) -> tuple[str, RunStatus, int]:
    if not isinstance(f, FinishedRun):
        raise InvalidInput("pipeline writes close runs with FinishedRun records")
    try:
        status = RunStatus(f.status)
    except ValueError as error:
        raise InvalidInput(f"invalid run status {f.status!r}") from error
    if not status.is_terminal:
        raise InvalidInput("a run is closed as completed, failed or killed")
    return inputs.identifier(f.run_id), status, inputs.non_negative_int(f.end_time, "end time")


def check_writes(writes: PipelineWrites) -> dict[str, list[Any]]:
    """Validated, normalised parts of ``writes`` (step and cache rows are checked by the
    store's own helpers when applied)."""
    if not isinstance(writes, PipelineWrites):
        raise InvalidInput("write_pipeline_records needs a PipelineWrites record")
    return {
        "artifacts": [_artifact(a) for a in writes.artifacts],
        "lineage": [_edge(e) for e in writes.lineage],
        "finished": [_finished(f) for f in writes.finished_runs],
    }


def apply_writes(conn: Connection, checked: Mapping[str, list[Any]]) -> None:
    """Write artifacts, edges and run closures inside the caller's transaction, one bulk
    statement per kind (no read-back of each row)."""
    arts: list[Artifact] = checked["artifacts"]
    closing: list[tuple[str, RunStatus, int]] = checked["finished"]
    wanted = {a.run_id for a in arts} | {run_id for run_id, _, _ in closing}
    if wanted:
        found = set(conn.execute(select(RUNS.c.id).where(RUNS.c.id.in_(wanted))).scalars())
        if missing := wanted - found:
            raise NotFound(f"no run {sorted(missing)[0]}")
    if arts:
        stmt = dialect_insert(conn, ARTIFACTS)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={
                "blob_hash": stmt.excluded.blob_hash,
                "size": stmt.excluded.size,
                "media_type": stmt.excluded.media_type,
                "created_at": stmt.excluded.created_at,
            },
        )
        conn.execute(stmt, [a.__dict__ for a in arts])
    edges: list[LineageEdge] = checked["lineage"]
    if edges:
        stmt = dialect_insert(conn, EDGES).on_conflict_do_nothing(
            index_elements=["source_type", "source_id", "target_type", "target_id", "role"]
        )
        conn.execute(stmt, [{**e.__dict__, "properties": dict(e.properties)} for e in edges])
    if closing:
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id == bindparam("run"))
            .values(status=bindparam("new_status"), end_time=bindparam("ended")),
            [{"run": r, "new_status": st.value, "ended": end} for r, st, end in closing],
        )
