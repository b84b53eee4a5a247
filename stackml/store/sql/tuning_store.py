"""``SqlSweepStore``: the sweeps part of the metadata store in SQL.

Mixed into :class:`~stackml.store.sql.store.SqlMetadataStore`. Slot claims are one
conditional ``UPDATE ... SET claimed = claimed + 1 WHERE claimed < budget`` inside a write
transaction (``BEGIN IMMEDIATE`` on SQLite, a row lock on PostgreSQL), so two agents never get
the same slot.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, InvalidInput, NotFound
from stackml.store.entities import MetricPoint
from stackml.store.sql import inputs, models_tuning, runs
from stackml.store.sql import metrics as sql_metrics
from stackml.store.sql.engine import Database, dialect_insert
from stackml.store.sql.snapshots import LATEST
from stackml.store.tuning_base import (
    SWEEP_STATES,
    TRIAL_STATES,
    Sweep,
    SweepRound,
    SweepStore,
    SweepTrial,
)

__all__ = ["SqlSweepStore", "check_sweep_fields", "check_trial_fields"]

SWEEPS: Table = cast(Table, models_tuning.SweepRow.__table__)
TRIALS: Table = cast(Table, models_tuning.SweepTrialRow.__table__)
ROUNDS: Table = cast(Table, models_tuning.SweepRoundRow.__table__)
MAX_SPEC = 200_000
METHODS = ("grid", "random", "tpe", "gp", "cmaes", "coarse-to-fine")


def _sweep(row: Any) -> Sweep:
    return Sweep(
        row.id,
        row.name,
        row.project,
        row.run_id,
        row.method,
        dict(row.spec),
        row.state,
        row.budget,
        row.claimed,
        row.created_at,
        row.updated_at,
    )


def _trial(row: Any) -> SweepTrial:
    values = None if row.values is None else [float(v) for v in row.values]
    return SweepTrial(
        row.sweep_id, row.number, row.run_id, row.state, values, dict(row.params), row.updated_at
    )


def _is_id(sweep_id: str) -> bool:
    """Whether ``sweep_id`` has the shape of a sweep id (32 hex digits)."""
    return isinstance(sweep_id, str) and len(sweep_id) == 32 and sweep_id.isalnum()


#: Statements built once and executed with parameters: SQLAlchemy then reuses their compiled
#: form, where a statement built with its values inside would be keyed and compiled anew.
_CLAIM = (
    update(SWEEPS)
    .where(
        SWEEPS.c.id == bindparam("target"),
        SWEEPS.c.state == "running",
        SWEEPS.c.claimed < SWEEPS.c.budget,
    )
    .values(claimed=SWEEPS.c.claimed + 1, updated_at=bindparam("now"))
    .returning(SWEEPS.c.claimed)
)
_TRIAL_UPSERTS: dict[str, Any] = {}


def _trial_upsert(conn: Connection) -> Any:
    """The mirror row's ``INSERT … ON CONFLICT DO UPDATE`` for the connection's dialect."""
    stmt = _TRIAL_UPSERTS.get(conn.dialect.name)
    if stmt is None:
        insert = dialect_insert(conn, TRIALS)
        stmt = insert.on_conflict_do_update(
            index_elements=["sweep_id", "number"],
            set_={
                k: insert.excluded[k] for k in ("run_id", "state", "values", "params", "updated_at")
            },
        )
        _TRIAL_UPSERTS[conn.dialect.name] = stmt
    return stmt


def _upsert_trial(
    conn: Connection,
    sweep_id: str,
    number: int,
    run_id: str,
    state: str,
    values: list[float] | None,
    params: dict[str, Any],
) -> SweepTrial:
    """Insert or replace the mirror row of trial ``number`` inside the caller's transaction."""
    row = {
        "sweep_id": sweep_id,
        "number": number,
        "run_id": run_id,
        "state": state,
        "values": values,
        "params": params,
        "updated_at": now_ms(),
    }
    conn.execute(_trial_upsert(conn), row)
    return _trial(SimpleNamespace(**row))


def _json_doc(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a mapping")
    try:
        text = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be JSON (finite numbers, text, lists, maps)") from exc
    if len(text) > MAX_SPEC:
        raise InvalidInput(f"{what} is larger than {MAX_SPEC} characters of JSON")
    return cast(dict[str, Any], json.loads(text))


def check_sweep_fields(
    name: str, project: str, run_id: str, method: str, spec: Mapping[str, Any], budget: int
) -> tuple[str, str, str, str, dict[str, Any], int]:
    """Validate what :meth:`SweepStore.create_sweep` receives (shared by SQL and REST)."""
    name = inputs.name(name, "sweep name")
    project = inputs.name(project, "project name")
    if not isinstance(run_id, str) or not run_id.isalnum() or len(run_id) > 32:
        raise InvalidInput(f"invalid run id {run_id!r}")
    if method not in METHODS:
        raise InvalidInput(f"unknown sweep method {method!r}: use one of {', '.join(METHODS)}")
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= 1_000_000:
        raise InvalidInput("a sweep's budget is a whole number of trials from 1 to 1000000")
    return name, project, run_id, method, _json_doc(spec, "a sweep definition"), budget


def check_trial_fields(
    number: int, run_id: str, state: str, values: Sequence[float] | None
) -> list[float] | None:
    """Validate what :meth:`SweepStore.record_trial` receives (shared by SQL and REST)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise InvalidInput("a trial number is a whole number >= 0")
    if not isinstance(run_id, str) or len(run_id) > 32:
        raise InvalidInput(f"invalid run id {run_id!r}")
    if state not in TRIAL_STATES:
        raise InvalidInput(f"unknown trial state {state!r}: use one of {TRIAL_STATES}")
    if values is None:
        return None
    clean = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput("trial values are numbers")
        clean.append(float(value) if math.isfinite(value) else None)
    return cast(list[float], clean)


class SqlSweepStore(SweepStore):
    """Sweeps rows on SQLite or PostgreSQL."""

    _db: Database

    def create_sweep(
        self,
        name: str,
        *,
        project: str,
        run_id: str,
        method: str,
        spec: Mapping[str, Any],
        budget: int,
    ) -> Sweep:
        name, project, run_id, method, doc, budget = check_sweep_fields(
            name, project, run_id, method, spec, budget
        )
        now = now_ms()
        row = {
            "id": uuid.uuid4().hex,
            "name": name,
            "project": project,
            "run_id": run_id,
            "method": method,
            "spec": doc,
            "state": "running",
            "budget": budget,
            "claimed": 0,
            "created_at": now,
            "updated_at": now,
        }

        def work(conn: Connection) -> Sweep:
            taken = conn.execute(
                select(SWEEPS.c.id).where(SWEEPS.c.project == project, SWEEPS.c.name == name)
            ).first()
            if taken is not None:
                raise AlreadyExists(f"project {project!r} already has a sweep named {name!r}")
            conn.execute(SWEEPS.insert().values(**row))
            return _sweep(conn.execute(select(SWEEPS).where(SWEEPS.c.id == row["id"])).one())

        return self._db.transact(work, write=True, what="create sweep")

    @staticmethod
    def _find(conn: Connection, sweep_id: str) -> Any:
        if not isinstance(sweep_id, str) or not sweep_id or len(sweep_id) > 300:
            raise InvalidInput(f"invalid sweep id {sweep_id!r}")
        if "/" in sweep_id:
            project, _, name = sweep_id.partition("/")
            query = select(SWEEPS).where(SWEEPS.c.project == project, SWEEPS.c.name == name)
        else:
            query = select(SWEEPS).where(SWEEPS.c.id == sweep_id)
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no sweep {sweep_id!r}: see `stackml sweep status` for the list")
        return row

    def get_sweep(self, sweep_id: str) -> Sweep:
        return self._db.transact(
            lambda c: _sweep(self._find(c, sweep_id)), write=False, what="get sweep"
        )

    def list_sweeps(self, project: str | None = None) -> list[Sweep]:
        query = select(SWEEPS).order_by(SWEEPS.c.created_at.desc(), SWEEPS.c.id)
        if project is not None:
            query = query.where(SWEEPS.c.project == inputs.name(project, "project name"))
        return self._db.transact(
            lambda c: [_sweep(r) for r in c.execute(query)], write=False, what="list sweeps"
        )

    def set_sweep_state(self, sweep_id: str, state: str) -> Sweep:
        if state not in SWEEP_STATES:
            raise InvalidInput(f"unknown sweep state {state!r}: use one of {SWEEP_STATES}")

        def work(conn: Connection) -> Sweep:
            found = self._find(conn, sweep_id)
            conn.execute(
                update(SWEEPS)
                .where(SWEEPS.c.id == found.id)
                .values(state=state, updated_at=now_ms())
            )
            return _sweep(conn.execute(select(SWEEPS).where(SWEEPS.c.id == found.id)).one())

        return self._db.transact(work, write=True, what="set sweep state")

    def claim_trial_slot(self, sweep_id: str) -> int | None:
        def work(conn: Connection) -> int | None:
            # An id goes straight to the conditional UPDATE (one statement per claim); a
            # ``project/name`` reference, or no row updated, looks the sweep up first.
            target = sweep_id if _is_id(sweep_id) else self._find(conn, sweep_id).id
            claimed = conn.execute(_CLAIM, {"target": target, "now": now_ms()}).first()
            if claimed is None:
                self._find(conn, sweep_id)  # NotFound for a sweep that does not exist
                return None
            return int(claimed[0]) - 1

        return self._db.transact(work, write=True, what="claim trial slot")

    def record_trial(
        self,
        sweep_id: str,
        number: int,
        *,
        run_id: str,
        state: str,
        values: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> SweepTrial:
        clean = check_trial_fields(number, run_id, state, values)
        doc = _json_doc(params or {}, "trial params")
        return self._db.transact(
            lambda c: _upsert_trial(
                c, self._find(c, sweep_id).id, number, run_id, state, clean, doc
            ),
            write=True,
            what="record trial",
        )

    def finish_trial(
        self,
        sweep_id: str,
        number: int,
        *,
        run_id: str,
        state: str,
        values: Sequence[float] | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        timestamp: int | None = None,
    ) -> SweepTrial:
        clean = check_trial_fields(number, run_id, state, values)
        doc = _json_doc(params or {}, "trial params")
        run_id = inputs.identifier(run_id)
        final = {inputs.key(k, what="metric key"): v for k, v in (metrics or {}).items()}
        stamp = now_ms() if timestamp is None else timestamp

        def work(conn: Connection) -> SweepTrial:
            if final:
                runs.require_run(conn, run_id, share_lock=True)
                latest = dict(
                    conn.execute(
                        select(LATEST.c.key, LATEST.c.step).where(
                            LATEST.c.run_id == run_id, LATEST.c.key.in_(list(final))
                        )
                    ).all()
                )
                points = [
                    MetricPoint(k, v, latest[k] + 1 if k in latest else 0, stamp)
                    for k, v in final.items()
                ]
                rows, folds = sql_metrics.prepare(run_id, sql_metrics.group(points))
                sql_metrics.write(conn, run_id, rows, folds)
            found = sweep_id if _is_id(sweep_id) else self._find(conn, sweep_id).id
            try:
                return _upsert_trial(conn, found, number, run_id, state, clean, doc)
            except IntegrityError as exc:  # the foreign key: an id that names no sweep
                raise NotFound(f"no sweep {sweep_id!r}") from exc

        return self._db.transact(work, write=True, what="finish trial")

    def list_sweep_trials(self, sweep_id: str) -> list[SweepTrial]:
        def work(conn: Connection) -> list[SweepTrial]:
            found = self._find(conn, sweep_id)
            query = select(TRIALS).where(TRIALS.c.sweep_id == found.id).order_by(TRIALS.c.number)
            return [_trial(r) for r in conn.execute(query)]

        return self._db.transact(work, write=False, what="list sweep trials")

    def add_sweep_round(self, sweep_id: str, round: int, space: Mapping[str, Any]) -> SweepRound:
        if isinstance(round, bool) or not isinstance(round, int) or not 0 <= round <= 1000:
            raise InvalidInput("a round number is a whole number from 0 to 1000")
        doc = _json_doc(space, "a round's space")

        def work(conn: Connection) -> SweepRound:
            found = self._find(conn, sweep_id)
            stmt = dialect_insert(conn, ROUNDS).values(
                sweep_id=found.id, round=round, space=doc, created_at=now_ms()
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["sweep_id", "round"]))
            row = conn.execute(
                select(ROUNDS).where(ROUNDS.c.sweep_id == found.id, ROUNDS.c.round == round)
            ).one()
            return SweepRound(row.sweep_id, row.round, dict(row.space), row.created_at)

        return self._db.transact(work, write=True, what="add sweep round")

    def list_sweep_rounds(self, sweep_id: str) -> list[SweepRound]:
        def work(conn: Connection) -> list[SweepRound]:
            found = self._find(conn, sweep_id)
            query = select(ROUNDS).where(ROUNDS.c.sweep_id == found.id).order_by(ROUNDS.c.round)
            return [
                SweepRound(r.sweep_id, r.round, dict(r.space), r.created_at)
                for r in conn.execute(query)
            ]

        return self._db.transact(work, write=False, what="list sweep rounds")

    def study_storage_url(self) -> str:
        return self._db.url.render_as_string(hide_password=False)
