"""``SqlPipelineStore``: the pipelines part of the metadata store in SQL.

Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`. Each method validates its input,
then does its work in one :meth:`Database.transact`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, select, update

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.pipelines_base import (
    MISSED_POLICIES,
    PIPELINE_RUN_STATES,
    STEP_STATES,
    CacheEntry,
    DatasetTrigger,
    PipelineInfo,
    PipelineRunInfo,
    PipelineStore,
    PipelineWrites,
    Schedule,
    StepRunInfo,
)
from stackml.store.sql import inputs
from stackml.store.sql.pipelines_rows import (
    CACHE,
    PIPELINES,
    RUNS,
    SCHEDULES,
    STEPS,
    TRIGGERS,
    cache_row,
    check_cache_key,
    check_cron,
    check_object,
    check_one_of,
    check_outputs,
    check_text,
    check_time,
    pipeline_of,
    put_cache,
    require_pipeline,
    run_of,
    save_steps,
    schedule_of,
    step_of,
)
from stackml.store.sql.pipelines_writes import apply_writes, check_writes

if TYPE_CHECKING:
    from stackml.store.sql.engine import Database

__all__ = ["SqlPipelineStore", "check_cron"]

_CACHE_LOOKUP = select(CACHE).where(CACHE.c.key.in_(bindparam("keys", expanding=True)))


class SqlPipelineStore(PipelineStore):
    """Pipelines rows on SQLite or PostgreSQL."""

    _db: Database

    # -- pipelines ------------------------------------------------------------------------
    def save_pipeline(self, info: PipelineInfo) -> PipelineInfo:
        name = inputs.name(info.name, "pipeline name")
        row = {
            "name": name,
            "project": inputs.name(info.project, "project name"),
            "entrypoint": check_text(info.entrypoint, "entrypoint", 2000),
            "source_root": check_text(info.source_root, "source root", 4096),
            "description": check_text(info.description, "description"),
            "spec": check_object(info.spec, "pipeline spec"),
            "updated_at": now_ms(),
        }
        if not row["entrypoint"]:
            raise InvalidInput("a pipeline needs an entrypoint such as 'module:function'")

        def work(conn: Connection) -> PipelineInfo:
            found = conn.execute(select(PIPELINES).where(PIPELINES.c.name == name)).first()
            if found is None:
                conn.execute(PIPELINES.insert().values(**row, created_at=row["updated_at"]))
            else:
                conn.execute(PIPELINES.update().where(PIPELINES.c.name == name).values(**row))
            return pipeline_of(
                conn.execute(select(PIPELINES).where(PIPELINES.c.name == name)).one()
            )

        return self._db.transact(work, write=True, what="save pipeline")

    def get_pipeline(self, name: str) -> PipelineInfo:
        name = inputs.name(name, "pipeline name")

        def work(conn: Connection) -> PipelineInfo:
            found = conn.execute(select(PIPELINES).where(PIPELINES.c.name == name)).first()
            if found is None:
                raise NotFound(f"no pipeline named {name!r}")
            return pipeline_of(found)

        return self._db.transact(work, write=False, what="get pipeline")

    def list_pipelines(self) -> list[PipelineInfo]:
        return self._db.transact(
            lambda c: [
                pipeline_of(r) for r in c.execute(select(PIPELINES).order_by(PIPELINES.c.name))
            ],
            write=False,
            what="list pipelines",
        )

    # -- runs -----------------------------------------------------------------------------
    def create_pipeline_run(self, info: PipelineRunInfo) -> PipelineRunInfo:
        row: dict[str, Any] = {
            "id": inputs.identifier(info.id),
            "pipeline": inputs.name(info.pipeline, "pipeline name"),
            "status": check_one_of(info.status, PIPELINE_RUN_STATES, "pipeline run status"),
            "trigger": inputs.label(info.trigger or "manual", "trigger"),
            "params": check_object(info.params, "params"),
            "started_at": inputs.non_negative_int(info.started_at, "started_at") or now_ms(),
            "ended_at": check_time(info.ended_at, "ended_at"),
            "error": check_text(info.error, "error"),
            "resumed_from": None
            if info.resumed_from is None
            else inputs.identifier(info.resumed_from),
        }

        def work(conn: Connection) -> PipelineRunInfo:
            require_pipeline(conn, row["pipeline"])
            if conn.execute(select(RUNS.c.id).where(RUNS.c.id == row["id"])).first():
                raise AlreadyExists(f"pipeline run {row['id']} already exists")
            conn.execute(RUNS.insert().values(**row))
            return run_of(conn.execute(select(RUNS).where(RUNS.c.id == row["id"])).one())

        return self._db.transact(work, write=True, what="create pipeline run")

    def update_pipeline_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        ended_at: int | None = None,
        error: str | None = None,
    ) -> PipelineRunInfo:
        run_id = inputs.identifier(run_id)
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = check_one_of(status, PIPELINE_RUN_STATES, "pipeline run status")
        if ended_at is not None:
            values["ended_at"] = inputs.non_negative_int(ended_at, "ended_at")
        if error is not None:
            values["error"] = check_text(error, "error")

        def work(conn: Connection) -> PipelineRunInfo:
            if values:
                conn.execute(RUNS.update().where(RUNS.c.id == run_id).values(**values))
            found = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
            if found is None:
                raise NotFound(f"no pipeline run {run_id}")
            return run_of(found)

        return self._db.transact(work, write=True, what="update pipeline run")

    def get_pipeline_run(self, run_id: str) -> PipelineRunInfo:
        run_id = inputs.identifier(run_id)

        def work(conn: Connection) -> PipelineRunInfo:
            found = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).first()
            if found is None:
                raise NotFound(f"no pipeline run {run_id}")
            return run_of(found)

        return self._db.transact(work, write=False, what="get pipeline run")

    def list_pipeline_runs(
        self, pipeline: str | None = None, *, limit: int = 50
    ) -> list[PipelineRunInfo]:
        limit = max(1, min(inputs.non_negative_int(limit, "limit"), 1000))
        query = select(RUNS).order_by(RUNS.c.started_at.desc(), RUNS.c.id).limit(limit)
        if pipeline is not None:
            query = query.where(RUNS.c.pipeline == inputs.name(pipeline, "pipeline name"))
        return self._db.transact(
            lambda c: [run_of(r) for r in c.execute(query)], write=False, what="list pipeline runs"
        )

    def save_step_runs(self, steps: Sequence[StepRunInfo]) -> None:
        rows = [self._step_row(s) for s in steps]
        if rows:
            self._db.transact(lambda c: save_steps(c, rows), write=True, what="save step runs")

    def write_pipeline_records(self, writes: PipelineWrites) -> None:
        checked = check_writes(writes)
        steps = [self._step_row(s) for s in writes.steps]
        cache = [cache_row(e) for e in writes.cache]

        def work(conn: Connection) -> None:
            apply_writes(conn, checked)  # first: it creates the runs the others refer to
            if steps:
                save_steps(conn, steps)
            put_cache(conn, cache)

        if writes:
            self._db.transact(work, write=True, what="record pipeline steps")

    @staticmethod
    def _step_row(s: StepRunInfo) -> dict[str, Any]:
        if not isinstance(s, StepRunInfo):
            raise InvalidInput("save_step_runs needs StepRunInfo records")
        return {
            "pipeline_run_id": inputs.identifier(s.pipeline_run_id),
            "step": inputs.name(s.step, "step name"),
            "status": check_one_of(s.status, STEP_STATES, "step status"),
            "run_id": None if s.run_id is None else inputs.identifier(s.run_id),
            "cache_key": check_cache_key(s.cache_key),
            "cache_hit": bool(s.cache_hit),
            "started_at": check_time(s.started_at, "started_at"),
            "ended_at": check_time(s.ended_at, "ended_at"),
            "attempts": inputs.non_negative_int(s.attempts, "attempts"),
            "executor": inputs.name(s.executor, "executor"),
            "upstream": [inputs.name(u, "step name") for u in s.upstream],
            "outputs": check_outputs(s.outputs),
            "log_hash": None if s.log_hash is None else inputs.blob_hash(s.log_hash),
            "error": check_text(s.error, "error"),
        }

    def list_step_runs(self, pipeline_run_id: str) -> list[StepRunInfo]:
        run_id = inputs.identifier(pipeline_run_id)
        query = select(STEPS).where(STEPS.c.pipeline_run_id == run_id).order_by(STEPS.c.seq)
        return self._db.transact(
            lambda c: [step_of(r) for r in c.execute(query)], write=False, what="list step runs"
        )

    # -- cache ----------------------------------------------------------------------------
    def get_cache_entries(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        wanted = sorted({check_cache_key(k) for k in keys} - {""})
        if not wanted:
            return {}

        def work(conn: Connection) -> dict[str, CacheEntry]:
            found: dict[str, CacheEntry] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                for r in conn.execute(_CACHE_LOOKUP, {"keys": chunk}):
                    found[r.key] = CacheEntry(
                        r.key,
                        r.pipeline,
                        r.step,
                        tuple(dict(o) for o in r.outputs),
                        r.run_id,
                        r.created_at,
                    )
            return found

        return self._db.transact(work, write=False, what="read step cache")

    def put_cache_entry(self, entry: CacheEntry) -> CacheEntry:
        row = cache_row(entry)
        self._db.transact(lambda c: put_cache(c, [row]), write=True, what="write step cache")
        return replace(entry, outputs=tuple(row["outputs"]), created_at=row["created_at"])

    def delete_cache_entries(self, pipeline: str, step: str | None = None) -> int:
        query = delete(CACHE).where(CACHE.c.pipeline == inputs.name(pipeline, "pipeline name"))
        if step is not None:
            query = query.where(CACHE.c.step == inputs.name(step, "step name"))
        return self._db.transact(
            lambda c: int(c.execute(query).rowcount or 0), write=True, what="clear step cache"
        )

    # -- schedules ------------------------------------------------------------------------
    def save_schedule(self, schedule: Schedule) -> Schedule:
        row: dict[str, Any] = {
            "pipeline": inputs.name(schedule.pipeline, "pipeline name"),
            "cron": check_cron(schedule.cron),
            "policy": check_one_of(schedule.policy, MISSED_POLICIES, "missed-run policy"),
            "enabled": bool(schedule.enabled),
            "next_fire_at": inputs.non_negative_int(schedule.next_fire_at, "next_fire_at"),
            "last_fire_at": check_time(schedule.last_fire_at, "last_fire_at"),
            "created_at": inputs.non_negative_int(schedule.created_at, "created_at") or now_ms(),
            "params": check_object(schedule.params, "params"),
        }

        def work(conn: Connection) -> Schedule:
            require_pipeline(conn, row["pipeline"])
            conn.execute(delete(SCHEDULES).where(SCHEDULES.c.pipeline == row["pipeline"]))
            conn.execute(SCHEDULES.insert().values(**row))
            return schedule_of(
                conn.execute(select(SCHEDULES).where(SCHEDULES.c.pipeline == row["pipeline"])).one()
            )

        return self._db.transact(work, write=True, what="save schedule")

    def delete_schedule(self, pipeline: str) -> None:
        name = inputs.name(pipeline, "pipeline name")

        def work(conn: Connection) -> None:
            if not conn.execute(delete(SCHEDULES).where(SCHEDULES.c.pipeline == name)).rowcount:
                raise NotFound(f"pipeline {name!r} has no schedule")

        self._db.transact(work, write=True, what="delete schedule")

    def list_schedules(self) -> list[Schedule]:
        query = select(SCHEDULES).order_by(SCHEDULES.c.pipeline)
        return self._db.transact(
            lambda c: [schedule_of(r) for r in c.execute(query)], write=False, what="list schedules"
        )

    def claim_schedule(
        self, pipeline: str, expected_next: int, new_next: int, fired_at: int
    ) -> bool:
        name = inputs.name(pipeline, "pipeline name")
        query = (
            update(SCHEDULES)
            .where(
                SCHEDULES.c.pipeline == name,
                SCHEDULES.c.next_fire_at == inputs.non_negative_int(expected_next, "expected"),
            )
            .values(
                next_fire_at=inputs.non_negative_int(new_next, "next_fire_at"),
                last_fire_at=inputs.non_negative_int(fired_at, "fired_at"),
            )
        )
        return self._db.transact(
            lambda c: bool(c.execute(query).rowcount), write=True, what="claim schedule"
        )

    # -- dataset triggers -----------------------------------------------------------------
    def save_trigger(self, trigger: DatasetTrigger) -> DatasetTrigger:
        row: dict[str, Any] = {
            "pipeline": inputs.name(trigger.pipeline, "pipeline name"),
            "dataset": inputs.name(trigger.dataset, "dataset name"),
            "last_version": inputs.non_negative_int(trigger.last_version, "last_version"),
            "created_at": inputs.non_negative_int(trigger.created_at, "created_at") or now_ms(),
        }

        def work(conn: Connection) -> None:
            require_pipeline(conn, row["pipeline"])
            conn.execute(
                delete(TRIGGERS).where(
                    TRIGGERS.c.pipeline == row["pipeline"], TRIGGERS.c.dataset == row["dataset"]
                )
            )
            conn.execute(TRIGGERS.insert().values(**row))

        self._db.transact(work, write=True, what="save trigger")
        return DatasetTrigger(**row)

    def delete_trigger(self, pipeline: str, dataset: str) -> None:
        query = delete(TRIGGERS).where(
            TRIGGERS.c.pipeline == inputs.name(pipeline, "pipeline name"),
            TRIGGERS.c.dataset == inputs.name(dataset, "dataset name"),
        )

        def work(conn: Connection) -> None:
            if not conn.execute(query).rowcount:
                raise NotFound(f"pipeline {pipeline!r} has no trigger on dataset {dataset!r}")

        self._db.transact(work, write=True, what="delete trigger")

    def list_triggers(self, dataset: str | None = None) -> list[DatasetTrigger]:
        query = select(TRIGGERS).order_by(TRIGGERS.c.dataset, TRIGGERS.c.pipeline)
        if dataset is not None:
            query = query.where(TRIGGERS.c.dataset == inputs.name(dataset, "dataset name"))
        return self._db.transact(
            lambda c: [
                DatasetTrigger(r.pipeline, r.dataset, r.last_version, r.created_at)
                for r in c.execute(query)
            ],
            write=False,
            what="list triggers",
        )

    def advance_trigger(self, pipeline: str, dataset: str, expected: int, new: int) -> bool:
        query = (
            update(TRIGGERS)
            .where(
                TRIGGERS.c.pipeline == inputs.name(pipeline, "pipeline name"),
                TRIGGERS.c.dataset == inputs.name(dataset, "dataset name"),
                TRIGGERS.c.last_version == inputs.non_negative_int(expected, "expected"),
            )
            .values(last_version=inputs.non_negative_int(new, "last_version"))
        )
        return self._db.transact(
            lambda c: bool(c.execute(query).rowcount), write=True, what="advance trigger"
        )
