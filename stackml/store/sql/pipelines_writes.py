"""The one-transaction write of a pipeline runner's records (see ``PipelineWrites``).

Every record is checked as the single-record methods check it; then started runs, step runs,
cache entries, artifacts, lineage edges and run closures go to the database together.
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
from stackml.store.pipelines_base import FinishedRun, PipelineWrites, StartedRun
from stackml.store.sql import inputs
from stackml.store.sql.pipelines_rows import upsert
from stackml.store.sql.snapshots import ARTIFACTS, EDGES, RUNS, TAGS

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


def _started(r: StartedRun) -> dict[str, Any]:
    if not isinstance(r, StartedRun):
        raise InvalidInput("pipeline writes start runs with StartedRun records")
    return {
        "id": inputs.identifier(r.run_id),
        "parent_id": inputs.identifier(r.parent_id, "parent run id"),
        "name": inputs.label(r.name, "run name"),
        "start_time": inputs.non_negative_int(r.start_time, "start time"),
        "tags": inputs.string_map(r.tags, "tag"),
    }


def check_writes(writes: PipelineWrites) -> dict[str, list[Any]]:
    """Validated, normalised parts of ``writes`` (step and cache rows are checked by the
    store's own helpers when applied)."""
    if not isinstance(writes, PipelineWrites):
        raise InvalidInput("write_pipeline_records needs a PipelineWrites record")
    return {
        "artifacts": [_artifact(a) for a in writes.artifacts],
        "lineage": [_edge(e) for e in writes.lineage],
        "finished": [_finished(f) for f in writes.finished_runs],
        "started": [_started(r) for r in writes.started_runs],
    }


# Built once: constructing statements costs more than running them on a small batch.
_TRACKED = select(RUNS.c.id, RUNS.c.project, RUNS.c.experiment_id, RUNS.c.user).where(
    RUNS.c.id.in_(bindparam("ids", expanding=True))
)
_CLOSE = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run"))
    .values(status=bindparam("new_status"), end_time=bindparam("ended"))
)


def apply_writes(conn: Connection, checked: Mapping[str, list[Any]]) -> None:
    """Create the started runs, then write artifacts, edges and run closures, inside the
    caller's transaction: one lookup of the runs involved and one bulk statement per kind.

    A started run gets its parent's project, experiment and user; one that exists already
    is left as it is, so a repeated write is harmless.
    """
    started: list[dict[str, Any]] = checked["started"]
    arts: list[Artifact] = checked["artifacts"]
    edges: list[LineageEdge] = checked["lineage"]
    closing: list[tuple[str, RunStatus, int]] = checked["finished"]
    new_ids = {r["id"] for r in started}
    parent_ids = {r["parent_id"] for r in started}
    wanted = {a.run_id for a in arts} | {run_id for run_id, _, _ in closing}
    lookup = sorted(parent_ids | (wanted - new_ids))
    found = {row.id: row for row in conn.execute(_TRACKED, {"ids": lookup})} if lookup else {}
    if missing := parent_ids - set(found):
        raise NotFound(f"no run {sorted(missing)[0]} (the parent of a started run)")
    if missing := wanted - new_ids - set(found):
        raise NotFound(f"no run {sorted(missing)[0]}")
    if started:
        rows = []
        for r in started:
            parent = found[r["parent_id"]]
            rows.append(
                {
                    "id": r["id"],
                    "project": parent.project,
                    "experiment_id": parent.experiment_id,
                    "name": r["name"],
                    "status": RunStatus.RUNNING.value,
                    "start_time": r["start_time"],
                    "end_time": None,
                    "user": parent.user,
                    "parent_id": r["parent_id"],
                }
            )
        conn.execute(upsert(conn, RUNS, ["id"], []), rows)
        tags = [
            {"run_id": r["id"], "key": k, "value": v} for r in started for k, v in r["tags"].items()
        ]
        if tags:
            conn.execute(upsert(conn, TAGS, ["run_id", "key"], ["value"]), tags)
    if arts:
        stmt = upsert(
            conn, ARTIFACTS, ["run_id", "path"], ["blob_hash", "size", "media_type", "created_at"]
        )
        conn.execute(stmt, [a.__dict__ for a in arts])
    if edges:
        stmt = upsert(
            conn, EDGES, ["source_type", "source_id", "target_type", "target_id", "role"], []
        )
        conn.execute(stmt, [{**e.__dict__, "properties": dict(e.properties)} for e in edges])
    if closing:
        rows = [{"run": r, "new_status": st.value, "ended": end} for r, st, end in closing]
        conn.execute(_CLOSE, rows)
