"""``SqlMetadataStore``: the :class:`~stackml.store.base.MetadataStore` on SQLite or PostgreSQL.

This class validates input, then runs one function of the per-responsibility modules
(:mod:`.projects`, :mod:`.runs`, :mod:`.metrics`, :mod:`.artifacts`, :mod:`.auth`,
:mod:`.search`) in one transaction through :meth:`Database.transact`, which retries
transient lock and serialization failures and translates driver errors.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

from sqlalchemy import Connection

from stackml._internal.timeutil import now_ms
from stackml.errors import InvalidInput
from stackml.store.base import DEFAULT_EXPERIMENT, MetadataStore
from stackml.store.entities import (
    ApiToken,
    Artifact,
    Experiment,
    LineageEdge,
    MetricColumns,
    MetricPoint,
    MetricSummary,
    Project,
    Run,
    RunPage,
    RunStatus,
    User,
)
from stackml.store.series import MetricArrays, check_step_range
from stackml.store.sql import artifacts, auth, inputs, metrics, migrate, projects, runs, search
from stackml.store.sql import datasets as dataset_rows
from stackml.store.sql import jobs as job_rows
from stackml.store.sql.datasets_store import SqlDatasetStore
from stackml.store.sql.engine import Database
from stackml.store.sql.jobs_store import SqlJobStore
from stackml.store.sql.labeling_rows import referenced_blobs as labeling_blobs
from stackml.store.sql.labeling_store import SqlLabelingStore
from stackml.store.sql.monitoring_store import SqlMonitoringStore
from stackml.store.sql.monitoring_store import referenced_blobs as monitoring_blobs
from stackml.store.sql.pipelines_store import SqlPipelineStore
from stackml.store.sql.registry import referenced_blobs as registry_blobs
from stackml.store.sql.registry_store import SqlRegistryStore
from stackml.store.sql.serving_store import SqlDeploymentStore
from stackml.store.sql.serving_store import referenced_blobs as serving_blobs
from stackml.store.sql.training import SqlTrainingStore
from stackml.store.sql.tuning_store import SqlSweepStore

__all__ = ["SqlMetadataStore"]


def _status(value: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError as error:
        allowed = ", ".join(status.value for status in RunStatus)
        raise InvalidInput(f"invalid run status {value!r}: use one of {allowed}") from error


def _default_user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError):  # no passwd entry, e.g. in some containers
        return "unknown"


class SqlMetadataStore(
    SqlDatasetStore,
    SqlJobStore,
    SqlTrainingStore,
    SqlPipelineStore,
    SqlSweepStore,
    SqlRegistryStore,
    SqlLabelingStore,
    SqlDeploymentStore,
    SqlMonitoringStore,
    MetadataStore,
):
    """Metadata in a SQL database; opening it applies pending migrations under a lock.

    Args:
        url: ``sqlite:///path/to/stackml.db``, ``sqlite://`` (in memory) or
            ``postgresql+psycopg://user@host/db``.
    """

    def __init__(self, url: str) -> None:
        self._db = Database(url)
        migrate.upgrade(self._db)

    @property
    def url(self) -> str:
        """The database URL, without its password."""
        return self._db.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"SqlMetadataStore({self.url!r})"

    def reading(self) -> contextlib.AbstractContextManager[None]:
        return self._db.reading()

    def close(self) -> None:
        self._db.close()

    # -- projects and experiments -------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        name = inputs.name(name, "project name")
        if not isinstance(description, str) or len(description) > inputs.MAX_VALUE:
            raise InvalidInput("a project description must be text of at most 65535 characters")
        return self._db.transact(
            lambda c: projects.create_project(c, name, description),
            write=True,
            what="create project",
        )

    def get_project(self, name: str) -> Project:
        name = inputs.name(name, "project name")
        return self._db.transact(
            lambda c: projects.get_project(c, name), write=False, what="get project"
        )

    def list_projects(self) -> list[Project]:
        return self._db.transact(projects.list_projects, write=False, what="list projects")

    def create_experiment(
        self, project: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        project = inputs.name(project, "project name")
        name = inputs.name(name, "experiment name")
        checked = inputs.string_map(tags, "tag")
        return self._db.transact(
            lambda c: projects.create_experiment(c, project, name, checked),
            write=True,
            what="create experiment",
        )

    def get_experiment(self, experiment_id: str) -> Experiment:
        experiment_id = inputs.identifier(experiment_id, "experiment id")
        return self._db.transact(
            lambda c: projects.get_experiment(c, experiment_id), write=False, what="get experiment"
        )

    def get_experiment_by_name(self, project: str, name: str) -> Experiment:
        project = inputs.name(project, "project name")
        name = inputs.name(name, "experiment name")
        return self._db.transact(
            lambda c: projects.get_experiment_by_name(c, project, name),
            write=False,
            what="get experiment",
        )

    def list_experiments(self, project: str | None = None) -> list[Experiment]:
        if project is not None:
            project = inputs.name(project, "project name")
        return self._db.transact(
            lambda c: projects.list_experiments(c, project), write=False, what="list experiments"
        )

    def set_experiment_tags(self, experiment_id: str, tags: Mapping[str, str]) -> Experiment:
        experiment_id = inputs.identifier(experiment_id, "experiment id")
        checked = inputs.string_map(tags, "tag")
        return self._db.transact(
            lambda c: projects.set_experiment_tags(c, experiment_id, checked),
            write=True,
            what="set experiment tags",
        )

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        experiment_id = inputs.identifier(experiment_id, "experiment id")
        key = inputs.key(key, "tag key")
        self._db.transact(
            lambda c: projects.delete_experiment_tag(c, experiment_id, key),
            write=True,
            what="delete experiment tag",
        )

    # -- runs ---------------------------------------------------------------------------
    def create_run(
        self,
        project: str,
        *,
        experiment: str | None = None,
        name: str | None = None,
        user: str | None = None,
        parent_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        start_time: int | None = None,
    ) -> Run:
        project = inputs.name(project, "project name")
        experiment = inputs.name(experiment or DEFAULT_EXPERIMENT, "experiment name")
        run_name = runs.generate_run_name() if name is None else inputs.label(name, "run name")
        run_user = inputs.label(user if user is not None else _default_user(), "user")
        parent = None if parent_id is None else inputs.identifier(parent_id)
        checked_tags = inputs.string_map(tags, "tag")
        checked_params = inputs.string_map(params, "param")
        started = now_ms() if start_time is None else inputs.non_negative_int(start_time, "start")
        return self._db.transact(
            lambda c: runs.create_run(
                c,
                project=project,
                experiment=experiment,
                name=run_name,
                user=run_user,
                parent_id=parent,
                tags=checked_tags,
                params=checked_params,
                start_time=started,
            ),
            write=True,
            what="create run",
        )

    def get_run(self, run_id: str) -> Run:
        run_id = inputs.identifier(run_id)
        return self._db.transact(lambda c: runs.get_run(c, run_id), write=False, what="get run")

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        run_id = inputs.identifier(run_id)
        new_status = None if status is None else _status(status)
        ended = None if end_time is None else inputs.non_negative_int(end_time, "end time")
        new_name = None if name is None else inputs.label(name, "run name")
        return self._db.transact(
            lambda c: runs.update_run(c, run_id, status=new_status, end_time=ended, name=new_name),
            write=True,
            what="update run",
        )

    def delete_run(self, run_id: str) -> None:
        run_id = inputs.identifier(run_id)
        self._db.transact(lambda c: runs.delete_run(c, run_id), write=True, what="delete run")

    def search_runs(
        self,
        *,
        project: str | None = None,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        return self._db.transact(
            lambda c: search.search_runs(
                c,
                project=project,
                experiment_ids=experiment_ids,
                filter_text=filter,
                order_by=order_by,
                limit=limit,
                page_token=page_token,
            ),
            write=False,
            what="search runs",
        )

    # -- params, tags, metrics ----------------------------------------------------------
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        run_id = inputs.identifier(run_id)
        checked = inputs.string_map(params, "param")

        def work(conn: Connection) -> None:
            runs.require_run(conn, run_id)
            runs.log_params(conn, run_id, checked)

        self._db.transact(work, write=True, what="log params")

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        run_id = inputs.identifier(run_id)
        checked = inputs.string_map(tags, "tag")

        def work(conn: Connection) -> None:
            runs.require_run(conn, run_id)
            runs.set_tags(conn, run_id, checked)

        self._db.transact(work, write=True, what="set tags")

    def delete_tag(self, run_id: str, key: str) -> None:
        run_id = inputs.identifier(run_id)
        key = inputs.key(key, "tag key")
        self._db.transact(lambda c: runs.delete_tag(c, run_id, key), write=True, what="delete tag")

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        run_id = inputs.identifier(run_id)
        if isinstance(points, (str, bytes)):
            raise InvalidInput("points must be a sequence of MetricPoint")
        self.log_metric_columns(run_id, metrics.group(points))

    def log_metric_columns(self, run_id: str, columns: Mapping[str, MetricColumns]) -> None:
        run_id = inputs.identifier(run_id)
        # Validate and fold outside the transaction: the write lock is held only to write.
        rows, folds = metrics.prepare(run_id, columns)
        if not rows:
            return

        def work(conn: Connection) -> None:
            runs.require_run(conn, run_id, share_lock=True)
            metrics.write(conn, run_id, rows, folds)

        self._db.transact(work, write=True, what="log metrics")

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        run_id = inputs.identifier(run_id)
        key = inputs.key(key, "metric key")

        def work(conn: Connection) -> list[MetricPoint]:
            runs.require_run(conn, run_id)
            return metrics.metric_history(conn, run_id, key)

        return self._db.transact(work, write=False, what="read metric history")

    def metric_history_arrays(
        self,
        run_id: str,
        key: str,
        *,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> MetricArrays:
        run_id = inputs.identifier(run_id)
        key = inputs.key(key, "metric key")
        check_step_range(start_step, end_step)

        def work(conn: Connection) -> MetricArrays:
            runs.require_run(conn, run_id)
            return metrics.history_arrays(conn, run_id, key, start_step, end_step)

        return self._db.transact(work, write=False, what="read metric history")

    def metric_summaries(self, run_id: str) -> dict[str, MetricSummary]:
        run_id = inputs.identifier(run_id)

        def work(conn: Connection) -> dict[str, MetricSummary]:
            runs.require_run(conn, run_id)
            return metrics.metric_summaries(conn, run_id)

        return self._db.transact(work, write=False, what="read metric summaries")

    # -- artifacts ----------------------------------------------------------------------
    def log_artifact(self, artifact: Artifact) -> Artifact:
        if not isinstance(artifact, Artifact):
            raise InvalidInput("log_artifact needs an Artifact record")
        checked = Artifact(
            run_id=inputs.identifier(artifact.run_id),
            path=inputs.path(artifact.path),
            blob_hash=inputs.blob_hash(artifact.blob_hash),
            size=inputs.non_negative_int(artifact.size, "artifact size"),
            media_type=inputs.media_type(artifact.media_type),
            created_at=inputs.non_negative_int(artifact.created_at, "created_at") or now_ms(),
        )

        def work(conn: Connection) -> Artifact:
            runs.require_run(conn, checked.run_id)
            return artifacts.log_artifact(conn, checked)

        return self._db.transact(work, write=True, what="log artifact")

    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[Artifact]:
        run_id = inputs.identifier(run_id)
        folder = None if prefix is None else inputs.path(prefix.rstrip("/"), "artifact prefix")

        def work(conn: Connection) -> list[Artifact]:
            runs.require_run(conn, run_id)
            return artifacts.list_artifacts(conn, run_id, folder)

        return self._db.transact(work, write=False, what="list artifacts")

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        run_id = inputs.identifier(run_id)
        path = inputs.path(path)
        return self._db.transact(
            lambda c: artifacts.get_artifact(c, run_id, path), write=False, what="get artifact"
        )

    def delete_artifacts(self, run_id: str, path: str) -> int:
        run_id = inputs.identifier(run_id)
        path = inputs.path(path.rstrip("/") if isinstance(path, str) else path)

        def work(conn: Connection) -> int:
            runs.require_run(conn, run_id)
            return artifacts.delete_artifacts(conn, run_id, path)

        return self._db.transact(work, write=True, what="delete artifacts")

    # -- lineage ------------------------------------------------------------------------
    def add_lineage(self, edge: LineageEdge) -> LineageEdge:
        if not isinstance(edge, LineageEdge):
            raise InvalidInput("add_lineage needs a LineageEdge")
        if not isinstance(edge.properties, Mapping):
            raise InvalidInput("lineage properties must be a mapping")
        try:
            properties = json.loads(json.dumps(dict(edge.properties), allow_nan=False))
        except (TypeError, ValueError) as error:
            raise InvalidInput(f"lineage properties must be plain JSON: {error}") from error
        checked = replace(
            edge,
            source_type=inputs.name(edge.source_type, "lineage source type"),
            source_id=inputs.label(edge.source_id, "lineage source id"),
            target_type=inputs.name(edge.target_type, "lineage target type"),
            target_id=inputs.label(edge.target_id, "lineage target id"),
            role=inputs.name(edge.role, "lineage role"),
            properties=properties,
            created_at=inputs.non_negative_int(edge.created_at, "created_at") or now_ms(),
        )
        return self._db.transact(
            lambda c: artifacts.add_lineage(c, checked), write=True, what="add lineage"
        )

    def list_lineage(
        self,
        entity_type: str,
        entity_id: str,
        *,
        direction: str = "both",
    ) -> list[LineageEdge]:
        entity_type = inputs.name(entity_type, "lineage entity type")
        entity_id = inputs.label(entity_id, "lineage entity id")
        return self._db.transact(
            lambda c: artifacts.list_lineage(c, entity_type, entity_id, direction),
            write=False,
            what="list lineage",
        )

    # -- users and tokens ---------------------------------------------------------------
    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        name = inputs.name(name, "user name")
        return self._db.transact(
            lambda c: auth.create_user(c, name, bool(is_admin)), write=True, what="create user"
        )

    def get_user(self, name: str) -> User:
        name = inputs.name(name, "user name")
        return self._db.transact(lambda c: auth.get_user(c, name), write=False, what="get user")

    def create_token(self, user: str, name: str) -> tuple[str, ApiToken]:
        user = inputs.name(user, "user name")
        name = inputs.label(name, "token name", max_len=128)
        return self._db.transact(
            lambda c: auth.create_token(c, user, name), write=True, what="create token"
        )

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        if user is not None:
            user = inputs.name(user, "user name")
        return self._db.transact(
            lambda c: auth.list_tokens(c, user), write=False, what="list tokens"
        )

    def revoke_token(self, token_id: str) -> None:
        token_id = inputs.identifier(token_id, "token id")
        self._db.transact(lambda c: auth.revoke_token(c, token_id), write=True, what="revoke token")

    def authenticate(self, secret: str) -> User | None:
        if not isinstance(secret, str) or not secret or len(secret) > auth.MAX_SECRET_LENGTH:
            return None
        return self._db.transact(
            lambda c: auth.authenticate(c, secret), write=True, what="authenticate"
        )

    # -- maintenance --------------------------------------------------------------------
    def referenced_blobs(self) -> Iterator[str]:
        hashes = self._db.transact(
            lambda c: sorted(
                {
                    *artifacts.referenced_blobs(c),
                    *dataset_rows.referenced_blobs(c),
                    *job_rows.referenced_blobs(c),
                    *registry_blobs(c),
                    *labeling_blobs(c),
                    *serving_blobs(c),
                    *monitoring_blobs(c),
                }
            ),
            write=False,
            what="list blobs",
        )
        yield from hashes
