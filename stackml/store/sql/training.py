"""``SqlTrainingStore``: baselines and metric definitions of
:class:`~stackml.store.training_base.TrainingStore` in SQL.

Validates input, then runs one small query in one transaction. Mixed into
:class:`~stackml.store.sql.store.SqlMetadataStore`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, select

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput, NotFound
from stackml.store.sql import inputs, models_training
from stackml.store.sql.engine import Database, dialect_insert
from stackml.store.training_base import (
    BASELINE_KINDS,
    Baseline,
    MetricDefinition,
    TrainingStore,
    check_baseline_metrics,
    check_definition,
)

__all__ = ["SqlTrainingStore"]

BASELINES: Table = cast(Table, models_training.BaselineRow.__table__)
DEFINITIONS: Table = cast(Table, models_training.MetricDefinitionRow.__table__)
#: A project's metric definition (a constant: the runs table reads it on every page).
_DEFINITION = select(DEFINITIONS).where(DEFINITIONS.c.project == bindparam("project"))


def _baseline(row: Any) -> Baseline:
    return Baseline(row.project, row.name, row.kind, dict(row.metrics), row.source, row.created_at)


def _upsert(conn: Connection, table: Table, keys: list[str], values: dict[str, Any]) -> None:
    stmt = dialect_insert(conn, table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={k: getattr(stmt.excluded, k) for k in values if k not in keys},
    )
    conn.execute(stmt)


class SqlTrainingStore(TrainingStore):
    """Baseline and metric-definition methods over ``self._db`` (set by the concrete store)."""

    _db: Database

    def set_baseline(
        self,
        project: str,
        name: str,
        *,
        kind: str,
        metrics: Mapping[str, float],
        source: str = "",
    ) -> Baseline:
        project = inputs.name(project, "project name")
        name = inputs.name(name, "baseline name")
        if kind not in BASELINE_KINDS:
            raise InvalidInput(f"unknown baseline kind {kind!r}: use one of {BASELINE_KINDS}")
        clean = check_baseline_metrics(metrics)
        if not isinstance(source, str) or len(source) > 2000:
            raise InvalidInput("a baseline's source is text of at most 2000 characters")
        row = {
            "project": project,
            "name": name,
            "kind": kind,
            "metrics": clean,
            "source": source,
            "created_at": now_ms(),
        }

        def work(conn: Connection) -> Baseline:
            _upsert(conn, BASELINES, ["project", "name"], row)
            found = conn.execute(
                select(BASELINES).where(BASELINES.c.project == project, BASELINES.c.name == name)
            ).one()
            return _baseline(found)

        return self._db.transact(work, write=True, what="set baseline")

    def list_baselines(self, project: str) -> list[Baseline]:
        project = inputs.name(project, "project name")
        query = select(BASELINES).where(BASELINES.c.project == project).order_by(BASELINES.c.name)
        return self._db.transact(
            lambda c: [_baseline(r) for r in c.execute(query)], write=False, what="list baselines"
        )

    def delete_baseline(self, project: str, name: str) -> None:
        project = inputs.name(project, "project name")
        name = inputs.name(name, "baseline name")

        def work(conn: Connection) -> None:
            gone = conn.execute(
                delete(BASELINES).where(BASELINES.c.project == project, BASELINES.c.name == name)
            )
            if gone.rowcount == 0:
                raise NotFound(f"project {project!r} has no baseline {name!r}")

        self._db.transact(work, write=True, what="delete baseline")

    def set_metric_definition(self, project: str, definition: MetricDefinition) -> MetricDefinition:
        project = inputs.name(project, "project name")
        if not isinstance(definition, MetricDefinition):
            raise InvalidInput("a metric definition is a MetricDefinition")
        checked = check_definition(definition)
        updated = now_ms()
        row = {
            "project": project,
            "kind": checked.kind,
            "spec": checked.spec,
            "goal": checked.goal,
            "updated_at": updated,
        }
        self._db.transact(
            lambda c: _upsert(c, DEFINITIONS, ["project"], row), write=True, what="set definition"
        )
        return check_definition(
            MetricDefinition(checked.kind, checked.spec, checked.goal, project, updated)
        )

    def get_metric_definition(self, project: str) -> MetricDefinition:
        project = inputs.name(project, "project name")

        def work(conn: Connection) -> MetricDefinition:
            row = conn.execute(_DEFINITION, {"project": project}).first()
            if row is None:
                raise NotFound(f"project {project!r} has no metric definition")
            return check_definition(
                MetricDefinition(row.kind, dict(row.spec), row.goal, project, row.updated_at)
            )

        return self._db.transact(work, write=False, what="get metric definition")
