"""Validation and row conversion for :mod:`stackml.store.sql.pipelines_store`."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select

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


def put_cache(conn: Connection, row: dict[str, Any]) -> None:
    stmt = dialect_insert(conn, CACHE).values(**row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[CACHE.c.key], set_={k: v for k, v in row.items() if k != "key"}
        )
    )


def save_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    run_ids = {r["pipeline_run_id"] for r in rows}
    known = set(conn.execute(select(RUNS.c.id).where(RUNS.c.id.in_(run_ids))).scalars())
    if missing := run_ids - known:
        raise NotFound(f"no pipeline run {sorted(missing)[0]}")
    seqs: dict[tuple[str, str], int] = {
        (r.pipeline_run_id, r.step): r.seq
        for r in conn.execute(
            select(STEPS.c.pipeline_run_id, STEPS.c.step, STEPS.c.seq).where(
                STEPS.c.pipeline_run_id.in_(run_ids)
            )
        )
    }
    next_seq = max(seqs.values(), default=-1) + 1
    fresh, changed = [], []
    for row in rows:
        key = (row["pipeline_run_id"], row["step"])
        if key in seqs:
            values = {f"v_{c}": v for c, v in row.items()}
            changed.append({**values, "k_run": key[0], "k_step": key[1]})
        else:
            seqs[key] = next_seq
            fresh.append({**row, "seq": next_seq})
            next_seq += 1
    if changed:
        # One executemany for every existing row, not a statement each.
        columns = [c for c in rows[0] if c not in {"pipeline_run_id", "step"}]
        conn.execute(
            STEPS.update()
            .where(
                STEPS.c.pipeline_run_id == bindparam("k_run"),
                STEPS.c.step == bindparam("k_step"),
            )
            .values({c: bindparam(f"v_{c}") for c in columns}),
            changed,
        )
    if fresh:
        conn.execute(STEPS.insert(), fresh)
