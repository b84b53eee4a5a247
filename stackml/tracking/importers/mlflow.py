"""Import experiments, runs and artifacts from an MLflow tracking store or server.

``import_mlflow(source, store)`` reads through the ``mlflow`` client library, so ``source`` is
anything MLflow itself accepts as a tracking URI: an ``http(s)://`` server, a database URL
(``sqlite:///mlflow.db``, ``postgresql://...``) or an ``mlruns`` folder (MLflow's file store).
Everything lands as ordinary stackml entities, mapped as the server's MLflow API maps them
(:mod:`.mlflow_mapping`): experiments, runs with their name, user, status and times, params,
tags, the full history of every metric, dataset inputs as lineage, and artifact files (stored
as blobs). Deleted MLflow experiments and runs are imported and marked deleted.

Importing is idempotent: each imported run carries the tag :data:`SOURCE_TAG` (the MLflow run
id), and a second import of the same source adds only what is new (params, tags, metric points
and artifacts not yet present) instead of duplicating runs.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput, NotFound
from stackml.store.entities import Artifact, LineageEdge, MetricColumns, Run, RunStatus
from stackml.tracking.importers.mlflow_mapping import (
    DELETED,
    LIFECYCLE_TAG,
    NAME_TAG,
    create_experiment,
    find_experiment,
)

if TYPE_CHECKING:
    from stackml.store import Store

#: Run tag holding the id an imported run had in MLflow.
SOURCE_TAG = "stackml.mlflow_run_id"
_STATUS = {
    "RUNNING": RunStatus.RUNNING,
    "SCHEDULED": RunStatus.RUNNING,
    "FINISHED": RunStatus.COMPLETED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.KILLED,
}
_PAGE = 1000

__all__ = ["SOURCE_TAG", "ImportProgress", "ImportReport", "import_mlflow"]


@dataclass
class ImportReport:
    """What an import did."""

    experiments: int = 0
    runs_created: int = 0
    runs_updated: int = 0
    runs_unchanged: int = 0
    metric_points: int = 0
    artifacts: int = 0


@dataclass(frozen=True)
class ImportProgress:
    """One step of an import: ``done`` of ``total`` runs of the experiment ``experiment``."""

    experiment: str
    done: int
    total: int


def _mlflow() -> Any:
    try:
        return importlib.import_module("mlflow")
    except ImportError as exc:  # an optional dependency
        raise InvalidInput(
            "importing from MLflow needs the mlflow package: pip install mlflow"
        ) from exc


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


class _Importer:
    def __init__(self, client: Any, store: Store, report: ImportReport) -> None:
        self.client = client
        self.meta = store.metadata
        self.blobs = store.blobs
        self.report = report

    # -- experiments ----------------------------------------------------------------------
    def experiment(self, source: Any) -> str:
        """The stackml experiment id for an MLflow experiment, created on first import."""
        tags = {k: v for k, v in source.tags.items() if k != NAME_TAG}
        if source.lifecycle_stage == DELETED:
            tags[LIFECYCLE_TAG] = DELETED
        found = find_experiment(self.meta, source.name)
        if found is None:
            found = create_experiment(self.meta, source.name, tags)
            self.report.experiments += 1
        elif any(found.tags.get(k) != v for k, v in tags.items()):
            found = self.meta.set_experiment_tags(found.id, tags)
        return found.id

    def imported_runs(self, experiment_id: str) -> dict[str, Run]:
        """Runs of a stackml experiment that came from MLflow, by their MLflow id."""
        found: dict[str, Run] = {}
        token = None
        while True:
            page = self.meta.search_runs(
                experiment_ids=[experiment_id],
                filter=f"tags.`{SOURCE_TAG}` IS NOT NULL",
                limit=_PAGE,
                page_token=token,
            )
            found.update((run.tags[SOURCE_TAG], run) for run in page.runs)
            token = page.next_page_token
            if not token:
                return found

    # -- runs -----------------------------------------------------------------------------
    def run(self, source: Any, experiment_id: str, known: dict[str, Run]) -> None:
        info, data = source.info, source.data
        tags = dict(data.tags)
        tags[SOURCE_TAG] = info.run_id
        if info.lifecycle_stage == DELETED:
            tags[LIFECYCLE_TAG] = DELETED
        existing = known.get(info.run_id)
        changed = existing is None
        if existing is None:
            experiment = self.meta.get_experiment(experiment_id)
            parent = known.get(tags.get("mlflow.parentRunId", ""))
            run = self.meta.create_run(
                experiment.project,
                experiment=experiment.name,
                name=info.run_name or None,
                user=info.user_id or "unknown",
                parent_id=None if parent is None else parent.id,
                tags=tags,
                params=dict(data.params),
                start_time=info.start_time or None,
            )
            known[info.run_id] = run
            self.report.runs_created += 1
        else:
            run = existing
            new_params = {k: v for k, v in data.params.items() if k not in run.params}
            new_tags = {k: v for k, v in tags.items() if run.tags.get(k) != v}
            if new_params:
                self.meta.log_params(run.id, new_params)
            if new_tags:
                self.meta.set_tags(run.id, new_tags)
            changed = bool(new_params or new_tags)
        status = _STATUS.get(info.status, RunStatus.RUNNING)
        if status != run.status or (info.end_time and info.end_time != run.end_time):
            self.meta.update_run(run.id, status=status, end_time=info.end_time or None)
            changed = True
        changed |= self.metrics(source, run)
        changed |= self.artifacts(info.run_id, run)
        changed |= self.inputs(source, run)
        if existing is not None:
            if changed:
                self.report.runs_updated += 1
            else:
                self.report.runs_unchanged += 1

    def metrics(self, source: Any, run: Run) -> bool:
        """Add the points of every metric's history that the stackml run lacks."""
        added = False
        for key in source.data.metrics:
            history = self.client.get_metric_history(source.info.run_id, key)
            have = run.metrics.get(key)
            if have is not None and have.count >= len(history):
                continue
            missing = Counter((m.step, m.timestamp, m.value) for m in history)
            if have is not None:
                for point in self.meta.metric_history(run.id, key):
                    triple = (point.step, point.timestamp, point.value)
                    if missing[triple] > 0:
                        missing[triple] -= 1
            points = sorted(missing.elements())
            if not points:
                continue
            self.meta.log_metric_columns(
                run.id,
                {
                    key: MetricColumns(
                        [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
                    )
                },
            )
            self.report.metric_points += len(points)
            added = True
        return added

    def artifacts(self, run_id: str, run: Run) -> bool:
        """Copy artifact files the stackml run does not have yet (same path and size)."""
        have = {a.path: a.size for a in self.meta.list_artifacts(run.id)}
        added = False
        with tempfile.TemporaryDirectory(prefix="stackml-mlflow-import-") as tmp:
            for path, size in self._files(run_id, None):
                if have.get(path) == size:
                    continue
                local = Path(self.client.download_artifacts(run_id, path, tmp))
                digest = self.blobs.put_file(local)
                self.meta.log_artifact(
                    Artifact(run.id, path, digest, local.stat().st_size, _media(path), 0)
                )
                local.unlink()
                self.report.artifacts += 1
                added = True
        return added

    def _files(self, run_id: str, folder: str | None) -> Iterator[tuple[str, int]]:
        for entry in self.client.list_artifacts(run_id, folder):
            if entry.is_dir:
                yield from self._files(run_id, entry.path)
            else:
                yield entry.path, entry.file_size or 0

    def inputs(self, source: Any, run: Run) -> bool:
        """Dataset inputs as lineage edges (adding an existing edge is a no-op)."""
        inputs = getattr(source, "inputs", None)
        for item in getattr(inputs, "dataset_inputs", None) or []:
            dataset = item.dataset
            self.meta.add_lineage(
                LineageEdge(
                    "mlflow_dataset",
                    f"{dataset.name}@{dataset.digest}"[:250],
                    "run",
                    run.id,
                    "input",
                    properties={
                        "dataset": {
                            "name": dataset.name,
                            "digest": dataset.digest,
                            "source_type": dataset.source_type,
                            "source": dataset.source,
                        },
                        "tags": [{"key": t.key, "value": t.value} for t in item.tags],
                    },
                )
            )
        return False


def _media(path: str) -> str:
    import mimetypes

    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def import_mlflow(
    source: str,
    store: Store,
    *,
    experiments: Sequence[str] | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportReport:
    """Import an MLflow tracking store or server into ``store``; safe to run again.

    Args:
        source: an MLflow tracking URI: ``http(s)://host:port``, a database URL such as
            ``sqlite:///mlflow.db``, or the path of an ``mlruns`` folder.
        store: the stackml store to import into.
        experiments: names of the MLflow experiments to import (default: all, deleted ones too).
        on_progress: called after each run with the progress of its experiment.

    Returns:
        Counts of what was created and updated.

    Raises:
        InvalidInput: mlflow is not installed, or ``source`` is not a tracking store.
        NotFound: a named experiment does not exist in the source.
    """
    mlflow = _mlflow()
    from mlflow.entities import ViewType

    if not isinstance(source, str) or not source.strip():
        raise InvalidInput("the MLflow source must be a tracking URI or an mlruns folder")
    uri = source
    if "://" not in source and ":" not in source.split("/")[0]:
        folder = Path(source).expanduser().resolve()
        if not folder.is_dir():
            raise InvalidInput(f"{source!r} is neither a tracking URI nor an mlruns folder")
        uri = folder.as_uri()
        # MLflow 3 reads its file store only when told to; naming the folder is that consent.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=uri)
    try:
        sources = list(
            _pages(
                lambda token: client.search_experiments(
                    view_type=ViewType.ALL, max_results=_PAGE, page_token=token
                )
            )
        )
    except mlflow.exceptions.MlflowException as exc:
        raise InvalidInput(f"cannot read MLflow experiments from {source!r}: {exc}") from exc
    if experiments is not None:
        wanted = set(experiments)
        missing = wanted - {e.name for e in sources}
        if missing:
            raise NotFound(f"no MLflow experiment named {sorted(missing)!r} in {source!r}")
        sources = [e for e in sources if e.name in wanted]
    report = ImportReport()
    importer = _Importer(client, store, report)
    for experiment in sources:

        def runs_page(token: str | None, experiment_id: str = experiment.experiment_id) -> Any:
            return client.search_runs(
                [experiment_id],
                run_view_type=ViewType.ALL,
                max_results=_PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )

        runs = list(_pages(runs_page))
        target = importer.experiment(experiment)
        known = importer.imported_runs(target)
        for done, run in enumerate(runs, start=1):
            importer.run(run, target, known)
            if on_progress is not None:
                on_progress(ImportProgress(experiment.name, done, len(runs)))
        if not runs and on_progress is not None:
            on_progress(ImportProgress(experiment.name, 0, 0))
    return report
