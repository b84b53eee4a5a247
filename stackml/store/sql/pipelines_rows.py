"""Validation and row conversion for :mod:`stackml.store.sql.pipelines_store`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.store.pipelines_base import (
    CacheEntry,
    PipelineInfo,
    PipelineRunInfo,
    Schedule,
    StepRunInfo,
)
from stackml.store.sql import inputs
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.models_pipelines import (
    PipelineCacheRow,
    PipelineRow,
    PipelineRunRow,
    PipelineScheduleRow,
    PipelineStepRunRow,
    PipelineTriggerRow,
)

PIPELINES: Table = cast(Table, PipelineRow.__table__)
RUNS: Table = cast(Table, PipelineRunRow.__table__)
STEPS: Table = cast(Table, PipelineStepRunRow.__table__)
CACHE: Table = cast(Table, PipelineCacheRow.__table__)
SCHEDULES: Table = cast(Table, PipelineScheduleRow.__table__)
TRIGGERS: Table = cast(Table, PipelineTriggerRow.__table__)
_KEY_RE = re.compile(r"^[0-9a-f]{16,128}$")
_MAX_TEXT = 65_535


def check_json(value: object, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"{what} must be plain JSON (no NaN): {error}") from error


def check_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object")
    return cast(dict[str, Any], check_json(dict(value), what))


def check_outputs(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InvalidInput("outputs must be a list of JSON objects")
    return [check_object(item, "an output") for item in value]


def check_text(value: object, what: str, max_len: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise InvalidInput(f"{what} must be text of at most {max_len} characters")
    return value


def check_one_of(value: object, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return cast(str, value)


def check_cache_key(value: object) -> str:
    if not isinstance(value, str) or not (value == "" or _KEY_RE.fullmatch(value)):
        raise InvalidInput(f"{value!r} is not a cache key (lowercase hex)")
    return value


def check_time(value: object, what: str) -> int | None:
    return None if value is None else inputs.non_negative_int(value, what)


def check_cron(expression: object) -> str:
    """A five-field cron expression croniter accepts; ``InvalidInput`` otherwise."""
    from croniter import croniter

    if not isinstance(expression, str) or not expression.strip() or len(expression) > 128:
        raise InvalidInput("a cron expression is text such as '0 3 * * *'")
    expression = " ".join(expression.split())
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InvalidInput(
            f"{expression!r} is not a valid cron expression (five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 3 * * *')"
        )
    return expression


def pipeline_of(r: Any) -> PipelineInfo:
    return PipelineInfo(
        r.name,
        r.project,
        r.entrypoint,
        r.source_root,
        r.description,
        dict(r.spec),
        r.created_at,
        r.updated_at,
    )


def run_of(r: Any) -> PipelineRunInfo:
    return PipelineRunInfo(
        r.id,
        r.pipeline,
        r.status,
        r.trigger,
        dict(r.params),
        r.started_at,
        r.ended_at,
        r.error,
        r.resumed_from,
    )


def step_of(r: Any) -> StepRunInfo:
    return StepRunInfo(
        r.pipeline_run_id,
        r.step,
        r.status,
        r.run_id,
        r.cache_key,
        bool(r.cache_hit),
        r.started_at,
        r.ended_at,
        r.attempts,
        r.executor,
        tuple(r.upstream),
        tuple(dict(o) for o in r.outputs),
        r.log_hash,
        r.error,
    )


def schedule_of(r: Any) -> Schedule:
    return Schedule(
        r.pipeline,
        r.cron,
        r.policy,
        bool(r.enabled),
        r.next_fire_at,
        r.last_fire_at,
        r.created_at,
        dict(r.params),
    )


def require_pipeline(conn: Connection, name: str) -> None:
    if conn.execute(select(PIPELINES.c.name).where(PIPELINES.c.name == name)).first() is None:
        raise NotFound(f"no pipeline named {name!r}")


def cache_row(entry: CacheEntry) -> dict[str, Any]:
    if not isinstance(entry, CacheEntry):
        raise InvalidInput("the step cache takes CacheEntry records")
    key = check_cache_key(entry.key)
    if not key:
        raise InvalidInput("a cache entry needs a key")
    return {
        "key": key,
        "pipeline": inputs.name(entry.pipeline, "pipeline name"),
        "step": inputs.name(entry.step, "step name"),
        "outputs": check_outputs(entry.outputs),
        "run_id": None if entry.run_id is None else inputs.identifier(entry.run_id),
        "created_at": inputs.non_negative_int(entry.created_at, "created_at") or now_ms(),
    }


_UPSERTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def upsert(conn: Connection, table: Table, index: Sequence[str], update: Sequence[str]) -> Any:
    """An ``INSERT ... ON CONFLICT (index) DO UPDATE SET update = excluded`` (``DO NOTHING``
    when ``update`` is empty) for executemany. Built once per dialect and shape: building
    ``excluded`` costs more than running the statement on a small batch."""
    key = (conn.dialect.name, table.name, tuple(index), tuple(update))
    stmt = _UPSERTS.get(key)
    if stmt is None:
        stmt = dialect_insert(conn, table)
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(index), set_={c: stmt.excluded[c] for c in update}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(index))
        _UPSERTS[key] = stmt
    return stmt


def put_cache(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Create or replace cache entries (rows of :func:`cache_row`), one statement; of rows
    with the same key (two steps with equal keys finishing together) the last one wins."""
    if rows:
        columns = [c for c in rows[0] if c != "key"]
        unique = list({r["key"]: r for r in rows}.values())
        conn.execute(upsert(conn, CACHE, ["key"], columns), unique)


_PIPELINE_RUN_IDS = select(RUNS.c.id).where(RUNS.c.id.in_(bindparam("ids", expanding=True)))
_SAVED_STEPS = select(STEPS.c.pipeline_run_id, STEPS.c.step).where(
    STEPS.c.pipeline_run_id.in_(bindparam("runs", expanding=True)),
    STEPS.c.step.in_(bindparam("steps", expanding=True)),
)
_LAST_SEQ = select(func.max(STEPS.c.seq)).where(
    STEPS.c.pipeline_run_id.in_(bindparam("runs", expanding=True))
)
_STEP_UPDATES: dict[tuple[str, ...], Any] = {}


def save_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    run_ids = sorted({r["pipeline_run_id"] for r in rows})
    # Only the rows being saved are looked up (a run's later writes touch few of its steps).
    steps = sorted({r["step"] for r in rows})
    seqs: set[tuple[str, str]] = set()
    for chunk in _chunks(steps):
        found = conn.execute(_SAVED_STEPS, {"runs": run_ids, "steps": list(chunk)})
        seqs.update((r.pipeline_run_id, r.step) for r in found)
    # A saved step row proves its pipeline run exists (those rows are never deleted).
    unproven = sorted(set(run_ids) - {run for run, _ in seqs})
    if unproven:
        known = set(conn.execute(_PIPELINE_RUN_IDS, {"ids": unproven}).scalars())
        if missing := set(unproven) - known:
            raise NotFound(f"no pipeline run {sorted(missing)[0]}")
    next_seq = 0
    if any((r["pipeline_run_id"], r["step"]) not in seqs for r in rows):
        last = conn.execute(_LAST_SEQ, {"runs": run_ids}).scalar()
        next_seq = 0 if last is None else int(last) + 1
    fresh, changed = [], []
    for row in rows:
        key = (row["pipeline_run_id"], row["step"])
        if key in seqs:
            values = {f"v_{c}": v for c, v in row.items()}
            changed.append({**values, "k_run": key[0], "k_step": key[1]})
        else:
            seqs.add(key)
            fresh.append({**row, "seq": next_seq})
            next_seq += 1
    if changed:
        # One executemany for every existing row, not a statement each.
        columns = tuple(c for c in rows[0] if c not in {"pipeline_run_id", "step"})
        stmt = _STEP_UPDATES.get(columns)
        if stmt is None:
            stmt = _STEP_UPDATES[columns] = (
                STEPS.update()
                .where(
                    STEPS.c.pipeline_run_id == bindparam("k_run"),
                    STEPS.c.step == bindparam("k_step"),
                )
                .values({c: bindparam(f"v_{c}") for c in columns})
            )
        conn.execute(stmt, changed)
    if fresh:
        conn.execute(STEPS.insert(), fresh)


def _chunks(values: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
