"""Runs with their params and tags: rows and queries, run inside a store transaction."""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, and_, delete, or_, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import Conflict, NotFound
from stackml.store.entities import MetricSummary, Run, RunStatus
from stackml.store.sql import inputs
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.projects import ensure_experiment
from stackml.store.sql.snapshots import CHUNKS, EDGES, LATEST, PARAMS, RUNS, TAGS

_ADJECTIVES = (
    "amber",
    "brave",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "eager",
    "fancy",
    "gentle",
    "golden",
    "happy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "mellow",
    "nimble",
    "proud",
    "quiet",
    "rapid",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "witty",
    "zesty",
)
_ANIMALS = (
    "badger",
    "bison",
    "crane",
    "dingo",
    "eagle",
    "falcon",
    "ferret",
    "gecko",
    "heron",
    "ibis",
    "koala",
    "lemur",
    "lynx",
    "marten",
    "moose",
    "narwhal",
    "ocelot",
    "otter",
    "panda",
    "puffin",
    "quokka",
    "raven",
    "salmon",
    "tapir",
    "walrus",
    "yak",
    "zebra",
)
_STATUSES = {status.value: status for status in RunStatus}
# Bulk reads use IN lists; keep each well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 5_000


def generate_run_name() -> str:
    """A readable name such as ``brave-otter-042``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}-{secrets.randbelow(1000):03d}"


def require_run(conn: Connection, run_id: str, *, share_lock: bool = False) -> Any:
    """The run's row, or ``NotFound``.

    ``share_lock`` keeps the run from being deleted until the transaction ends (rows without
    a foreign key, such as metric points, rely on it on PostgreSQL; SQLite writers are
    serialized anyway).
    """
    query = select(RUNS).where(RUNS.c.id == run_id)
    if share_lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"run {run_id!r} does not exist")
    return row


def chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    """``ids`` in slices small enough for one ``IN (...)`` of bound parameters."""
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def metric_summary(
    key: str,
    value: float | None,
    step: int,
    timestamp: int,
    low: float | None,
    high: float | None,
    count: int,
) -> MetricSummary:
    """A metric's summary from its ``latest_metrics`` columns (NaN is stored as NULL)."""
    nan = math.nan
    return MetricSummary(
        key,
        nan if value is None else value,
        step,
        timestamp,
        nan if low is None else low,
        nan if high is None else high,
        count,
    )


def load_runs(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Snapshots of run rows with params, tags and metric summaries: one query per kind."""
    ids = [row.id for row in rows]
    params: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    tags: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    metrics: dict[str, dict[str, MetricSummary]] = {run_id: {} for run_id in ids}
    # Plain tuples and positional construction: this loop builds every row of a large page.
    for chunk in chunks(ids):
        query = select(PARAMS.c.run_id, PARAMS.c.key, PARAMS.c.value)
        for run_id, key, value in conn.execute(query.where(PARAMS.c.run_id.in_(chunk))).all():
            params[run_id][key] = value
        query = select(TAGS.c.run_id, TAGS.c.key, TAGS.c.value)
        for run_id, key, value in conn.execute(query.where(TAGS.c.run_id.in_(chunk))).all():
            tags[run_id][key] = value
        query = select(
            LATEST.c.run_id,
            LATEST.c.key,
            LATEST.c.value,
            LATEST.c.step,
            LATEST.c.timestamp,
            LATEST.c.min_value,
            LATEST.c.max_value,
            LATEST.c.count,
        ).where(LATEST.c.run_id.in_(chunk))
        for row in conn.execute(query).all():
            run_id, key, *rest = cast("tuple[Any, ...]", row)
            metrics[run_id][key] = metric_summary(key, *rest)
    return [
        Run(
            row.id,
            row.project,
            row.experiment_id,
            row.name,
            _STATUSES[row.status],
            row.start_time,
            row.end_time,
            row.user,
            row.parent_id,
            params[row.id],
            tags[row.id],
            metrics[row.id],
        )
        for row in rows
    ]


def get_run(conn: Connection, run_id: str) -> Run:
    return load_runs(conn, [require_run(conn, run_id)])[0]


def create_run(
    conn: Connection,
    *,
    project: str,
    experiment: str,
    name: str,
    user: str,
    parent_id: str | None,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    start_time: int,
) -> Run:
    if parent_id is not None:
        require_run(conn, parent_id)
    experiment_id = ensure_experiment(conn, project, experiment)
    run_id = uuid.uuid4().hex
    conn.execute(
        RUNS.insert().values(
            id=run_id,
            project=project,
            experiment_id=experiment_id,
            name=name,
            status=RunStatus.RUNNING.value,
            start_time=start_time,
            end_time=None,
            user=user,
            parent_id=parent_id,
        )
    )
    log_params(conn, run_id, params)
    set_tags(conn, run_id, tags)
    return get_run(conn, run_id)


def update_run(
    conn: Connection,
    run_id: str,
    *,
    status: RunStatus | None,
    end_time: int | None,
    name: str | None,
) -> Run:
    row = require_run(conn, run_id)
    values: dict[str, Any] = {}
    if status is not None:
        values["status"] = status.value
        if status.is_terminal and end_time is None and row.end_time is None:
            end_time = now_ms()
    if end_time is not None:
        values["end_time"] = end_time
    if name is not None:
        values["name"] = name
    if values:
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(**values))
    return get_run(conn, run_id)


def delete_run(conn: Connection, run_id: str) -> None:
    require_run(conn, run_id)
    conn.execute(
        delete(EDGES).where(
            or_(
                and_(EDGES.c.source_type == "run", EDGES.c.source_id == run_id),
                and_(EDGES.c.target_type == "run", EDGES.c.target_id == run_id),
            )
        )
    )
    conn.execute(delete(CHUNKS).where(CHUNKS.c.run_id == run_id))
    # Params, tags, summaries and artifact records go with the run (ON DELETE CASCADE).
    conn.execute(delete(RUNS).where(RUNS.c.id == run_id))


def log_params(conn: Connection, run_id: str, params: Mapping[str, str]) -> None:
    if not params:
        return
    # Insert what is new, then compare: a concurrent writer of a different value loses
    # with Conflict rather than silently.
    stmt = dialect_insert(conn, PARAMS).on_conflict_do_nothing(index_elements=["run_id", "key"])
    conn.execute(
        stmt,
        [
            {"run_id": run_id, "key": k, "value": v, "value_num": inputs.as_number(v)}
            for k, v in params.items()
        ],
    )
    stored = dict(
        conn.execute(
            select(PARAMS.c.key, PARAMS.c.value).where(
                PARAMS.c.run_id == run_id, PARAMS.c.key.in_(list(params))
            )
        ).all()
    )
    for k, v in params.items():
        if stored.get(k) != v:
            raise Conflict(
                f"param {k!r} of run {run_id!r} is already {stored.get(k)!r}; params are "
                f"immutable, so it cannot become {v!r} (use a tag for values that change)"
            )


def set_tags(conn: Connection, run_id: str, tags: Mapping[str, str]) -> None:
    if not tags:
        return
    stmt = dialect_insert(conn, TAGS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
    )
    conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()])


def delete_tag(conn: Connection, run_id: str, key: str) -> None:
    require_run(conn, run_id)
    result = conn.execute(
        delete(TAGS).where(TAGS.c.run_id == run_id, TAGS.c.key == key).returning(TAGS.c.key)
    )
    if result.first() is None:
        raise NotFound(f"run {run_id!r} has no tag {key!r}")
