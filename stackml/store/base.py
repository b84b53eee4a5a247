"""The ``MetadataStore`` interface: every row stackml keeps goes through it.

Two implementations stand behind it: :class:`~stackml.store.sql.store.SqlMetadataStore`
(SQLite or PostgreSQL through SQLAlchemy) and :class:`~stackml.store.rest.RestMetadataStore`
(the same calls over HTTP to ``stackml server``). The tracking SDK only sees this interface,
so it behaves the same embedded or against a server.

Contract for implementations:

* Thread-safe: one instance may be shared by the user's threads and the background metric
  writer.
* Returns immutable snapshots from :mod:`stackml.store.entities`, never live rows.
* Raises only :mod:`stackml.errors` types: ``NotFound`` for unknown ids, ``AlreadyExists``
  for duplicate names, ``Conflict`` when changing an immutable param, ``InvalidInput`` for
  malformed names, keys, paths and filters. Driver errors are translated with ``raise ... from``.
* Validates every user-given name, key and path (see :mod:`stackml._internal.names`).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

from stackml.store.datasets_base import DatasetStore
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
from stackml.store.jobs_base import JobStore
from stackml.store.labeling_base import LabelingStore
from stackml.store.monitoring_base import MonitoringStore
from stackml.store.pipelines_base import PipelineStore
from stackml.store.registry_base import RegistryStore
from stackml.store.series import MetricArrays, check_step_range
from stackml.store.serving_base import DeploymentStore
from stackml.store.training_base import TrainingStore
from stackml.store.tuning_base import SweepStore

DEFAULT_EXPERIMENT = "default"


class MetadataStore(
    DatasetStore,
    JobStore,
    TrainingStore,
    PipelineStore,
    SweepStore,
    RegistryStore,
    LabelingStore,
    DeploymentStore,
    MonitoringStore,
    abc.ABC,
):
    """Projects, experiments, runs, metrics, artifacts' records, lineage, users and tokens."""

    # -- projects and experiments -------------------------------------------------------
    @abc.abstractmethod
    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project. Raises ``AlreadyExists`` if the name is taken."""

    @abc.abstractmethod
    def get_project(self, name: str) -> Project:
        """Return a project by name. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_projects(self) -> list[Project]:
        """All projects, ordered by name."""

    def ensure_project(self, name: str) -> Project:
        """Return the project, creating it first if it does not exist (race-safe)."""
        from stackml.errors import AlreadyExists, NotFound

        try:
            return self.get_project(name)
        except NotFound:
            try:
                return self.create_project(name)
            except AlreadyExists:
                return self.get_project(name)

    @abc.abstractmethod
    def create_experiment(
        self, project: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Experiment:
        """Create an experiment in an existing project. Raises ``AlreadyExists``."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment by id. Raises ``NotFound``."""

    @abc.abstractmethod
    def get_experiment_by_name(self, project: str, name: str) -> Experiment:
        """Return an experiment by project and name. Raises ``NotFound``."""

    @abc.abstractmethod
    def list_experiments(self, project: str | None = None) -> list[Experiment]:
        """Experiments, optionally of one project, ordered by creation time."""

    @abc.abstractmethod
    def set_experiment_tags(self, experiment_id: str, tags: Mapping[str, str]) -> Experiment:
        """Set or overwrite tags of an experiment; returns the new snapshot. Raises ``NotFound``."""

    @abc.abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove an experiment tag. Raises ``NotFound`` if the experiment or the tag is missing."""

    # -- runs ---------------------------------------------------------------------------
    @abc.abstractmethod
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
        """Create a running run; the project and experiment are created if missing.

        ``experiment`` is a name within the project (default ``"default"``). A name is
        generated when ``name`` is None. ``parent_id`` nests the run under another one.
        """

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run:
        """Return a run with its params, tags and metric summaries. Raises ``NotFound``."""

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        """Change a run's status, end time or name and return the new snapshot."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything that belongs to it (its blobs become garbage)."""

    @abc.abstractmethod
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
        """Runs matching a filter (see :mod:`stackml.store.filter`), sorted and paginated.

        Default order is newest first. Raises ``InvalidInput`` for a malformed filter,
        order key or page token.
        """

    # -- params, tags, metrics ----------------------------------------------------------
    @abc.abstractmethod
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        """Set params. Re-setting the same value is a no-op; a different one is ``Conflict``."""

    @abc.abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        """Set or overwrite tags."""

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag. Raises ``NotFound`` if it is not set."""

    @abc.abstractmethod
    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> None:
        """Append metric points in one bulk write and update the per-key summaries."""

    def log_metric_columns(self, run_id: str, columns: Mapping[str, MetricColumns]) -> None:
        """Append points given per key as parallel columns, in one bulk write.

        The fast path of the background metric writer. The default expands the columns into
        points and calls :meth:`log_metrics`; stores override it to skip that step.
        """
        points = [p for key, cols in columns.items() for p in cols.points(key)]
        if points:
            self.log_metrics(run_id, points)

    @abc.abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        """Every point of one metric, ordered by step then timestamp."""

    def metric_history_arrays(
        self,
        run_id: str,
        key: str,
        *,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> MetricArrays:
        """One metric's points with steps in ``[start_step, end_step]`` as NumPy columns.

        Ordered like :meth:`metric_history`; the read behind chart data. The default builds
        the columns from :meth:`metric_history`; stores override it to skip the point objects.
        Raises ``InvalidInput`` when ``start_step`` is after ``end_step``.
        """
        check_step_range(start_step, end_step)
        return MetricArrays.from_points(self.metric_history(run_id, key)).in_steps(
            start_step, end_step
        )

    @abc.abstractmethod
    def metric_summaries(self, run_id: str) -> dict[str, MetricSummary]:
        """Latest, min, max and count of every metric of a run."""

    # -- artifacts ----------------------------------------------------------------------
    @abc.abstractmethod
    def log_artifact(self, artifact: Artifact) -> Artifact:
        """Record that ``artifact.path`` of a run points at a stored blob (overwrites)."""

    @abc.abstractmethod
    def list_artifacts(self, run_id: str, prefix: str | None = None) -> list[Artifact]:
        """Artifacts of a run, optionally under a logical path prefix, ordered by path."""

    @abc.abstractmethod
    def get_artifact(self, run_id: str, path: str) -> Artifact:
        """One artifact record. Raises ``NotFound``."""

    @abc.abstractmethod
    def delete_artifacts(self, run_id: str, path: str) -> int:
        """Remove the record at ``path`` and every record under the folder ``path``.

        Returns how many records went (0 when none matched); their blobs become garbage for
        ``stackml gc``. Raises ``NotFound`` for an unknown run.
        """

    # -- lineage ------------------------------------------------------------------------
    @abc.abstractmethod
    def add_lineage(self, edge: LineageEdge) -> LineageEdge:
        """Record a typed edge; adding the same edge twice is a no-op."""

    @abc.abstractmethod
    def list_lineage(
        self,
        entity_type: str,
        entity_id: str,
        *,
        direction: str = "both",
    ) -> list[LineageEdge]:
        """Edges touching an entity: ``"upstream"`` (it is the target), ``"downstream"``
        (it is the source) or ``"both"``."""

    # -- users and tokens ---------------------------------------------------------------
    @abc.abstractmethod
    def create_user(self, name: str, *, is_admin: bool = False) -> User:
        """Create a user. Raises ``AlreadyExists``."""

    @abc.abstractmethod
    def get_user(self, name: str) -> User:
        """Return a user. Raises ``NotFound``."""

    @abc.abstractmethod
    def create_token(self, user: str, name: str) -> tuple[str, ApiToken]:
        """Create an API token for an existing user; returns ``(secret, record)``.

        Only a hash of the secret is stored; the secret cannot be shown again.
        """

    @abc.abstractmethod
    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        """Token records (never secrets)."""

    @abc.abstractmethod
    def revoke_token(self, token_id: str) -> None:
        """Revoke a token. Raises ``NotFound``."""

    @abc.abstractmethod
    def authenticate(self, secret: str) -> User | None:
        """The user owning a valid, unrevoked token, or ``None``."""

    # -- maintenance --------------------------------------------------------------------
    @abc.abstractmethod
    def referenced_blobs(self) -> Iterator[str]:
        """Every blob hash some row refers to (used by ``stackml gc``)."""

    def reading(self) -> contextlib.AbstractContextManager[None]:
        """A block whose reads share one read transaction: one consistent snapshot, and one
        connection and ``BEGIN`` instead of one per call (a page that makes several reads).

        Writes inside the block run in transactions of their own, as always. Stores without
        transactions (the REST client) read as usual; the default does nothing.
        """
        return contextlib.nullcontext()

    def close(self) -> None:
        """Release connections. The default does nothing."""

    def __enter__(self) -> MetadataStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def batched(items: Iterable[MetricPoint], size: int) -> Iterator[list[MetricPoint]]:
    """Split points into lists of at most ``size`` (bulk inserts have parameter limits)."""
    batch: list[MetricPoint] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
