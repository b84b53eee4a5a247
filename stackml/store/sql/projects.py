"""Projects and experiments: rows and queries, run inside a store transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import Connection, delete, select

from stackml._internal.timeutil import now_ms
from stackml.errors import AlreadyExists, NotFound
from stackml.store.base import DEFAULT_EXPERIMENT
from stackml.store.entities import Experiment, Project
from stackml.store.sql import snapshots
from stackml.store.sql.direct import fetch_all
from stackml.store.sql.engine import dialect_insert
from stackml.store.sql.snapshots import EXPERIMENT_TAGS, EXPERIMENTS, PROJECTS


def _insert_project(conn: Connection, name: str, description: str) -> bool:
    stmt = (
        dialect_insert(conn, PROJECTS)
        .values(name=name, description=description, created_at=now_ms())
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(PROJECTS.c.name)
    )
    # RETURNING, not rowcount: psycopg reports -1 for some statements.
    return conn.execute(stmt).first() is not None


def _insert_experiment(conn: Connection, project: str, name: str) -> bool:
    stmt = (
        dialect_insert(conn, EXPERIMENTS)
        .values(id=uuid.uuid4().hex, project=project, name=name, created_at=now_ms())
        .on_conflict_do_nothing(index_elements=["project", "name"])
        .returning(EXPERIMENTS.c.id)
    )
    return conn.execute(stmt).first() is not None


def create_project(conn: Connection, name: str, description: str) -> Project:
    if not _insert_project(conn, name, description):
        raise AlreadyExists(f"project {name!r} already exists")
    _insert_experiment(conn, name, DEFAULT_EXPERIMENT)
    return get_project(conn, name)


def get_project(conn: Connection, name: str) -> Project:
    row = conn.execute(select(PROJECTS).where(PROJECTS.c.name == name)).first()
    if row is None:
        raise NotFound(f"project {name!r} does not exist")
    return snapshots.project(row)


#: Every project, by name (a constant: compiled once; read on every page of the runs table).
_ALL_PROJECTS = select(PROJECTS.c.name, PROJECTS.c.description, PROJECTS.c.created_at).order_by(
    PROJECTS.c.name
)


def list_projects(conn: Connection) -> list[Project]:
    rows = fetch_all(conn, _ALL_PROJECTS, {})
    return [Project(name, text, created) for name, text, created in rows]


def ensure_experiment(conn: Connection, project: str, experiment: str) -> str:
    """The id of ``project``/``experiment``, creating both if missing (race-safe)."""
    _insert_project(conn, project, "")
    _insert_experiment(conn, project, DEFAULT_EXPERIMENT)
    if experiment != DEFAULT_EXPERIMENT:
        _insert_experiment(conn, project, experiment)
    found = conn.execute(
        select(EXPERIMENTS.c.id).where(
            EXPERIMENTS.c.project == project, EXPERIMENTS.c.name == experiment
        )
    ).scalar_one()
    return str(found)


def _tags_of(conn: Connection, experiment_ids: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {eid: {} for eid in experiment_ids}
    if experiment_ids:
        rows = conn.execute(
            select(EXPERIMENT_TAGS).where(EXPERIMENT_TAGS.c.experiment_id.in_(experiment_ids))
        )
        for row in rows:
            tags[row.experiment_id][row.key] = row.value
    return tags


def create_experiment(
    conn: Connection, project: str, name: str, tags: Mapping[str, str]
) -> Experiment:
    get_project(conn, project)
    if not _insert_experiment(conn, project, name):
        raise AlreadyExists(f"experiment {name!r} already exists in project {project!r}")
    experiment = get_experiment_by_name(conn, project, name)
    if tags:
        conn.execute(
            EXPERIMENT_TAGS.insert(),
            [{"experiment_id": experiment.id, "key": k, "value": v} for k, v in tags.items()],
        )
    return get_experiment(conn, experiment.id)


def get_experiment(conn: Connection, experiment_id: str) -> Experiment:
    row = conn.execute(select(EXPERIMENTS).where(EXPERIMENTS.c.id == experiment_id)).first()
    if row is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist")
    return snapshots.experiment(row, _tags_of(conn, [row.id])[row.id])


def get_experiment_by_name(conn: Connection, project: str, name: str) -> Experiment:
    row = conn.execute(
        select(EXPERIMENTS).where(EXPERIMENTS.c.project == project, EXPERIMENTS.c.name == name)
    ).first()
    if row is None:
        raise NotFound(f"experiment {name!r} does not exist in project {project!r}")
    return snapshots.experiment(row, _tags_of(conn, [row.id])[row.id])


def list_experiments(conn: Connection, project: str | None) -> list[Experiment]:
    query = select(EXPERIMENTS).order_by(EXPERIMENTS.c.created_at, EXPERIMENTS.c.name)
    if project is not None:
        query = query.where(EXPERIMENTS.c.project == project)
    rows = list(conn.execute(query))
    tags = _tags_of(conn, [row.id for row in rows])
    return [snapshots.experiment(row, tags[row.id]) for row in rows]


def set_experiment_tags(
    conn: Connection, experiment_id: str, tags: Mapping[str, str]
) -> Experiment:
    get_experiment(conn, experiment_id)
    if tags:
        stmt = dialect_insert(conn, EXPERIMENT_TAGS)
        stmt = stmt.on_conflict_do_update(
            index_elements=["experiment_id", "key"], set_={"value": stmt.excluded.value}
        )
        conn.execute(
            stmt, [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in tags.items()]
        )
    return get_experiment(conn, experiment_id)


def delete_experiment_tag(conn: Connection, experiment_id: str, key: str) -> None:
    get_experiment(conn, experiment_id)
    result = conn.execute(
        delete(EXPERIMENT_TAGS)
        .where(EXPERIMENT_TAGS.c.experiment_id == experiment_id, EXPERIMENT_TAGS.c.key == key)
        .returning(EXPERIMENT_TAGS.c.key)
    )
    if result.first() is None:
        raise NotFound(f"experiment {experiment_id!r} has no tag {key!r}")
