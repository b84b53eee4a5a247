"""Retraining trigger: a new labeled dataset version starts the monitor's retraining pipeline.

Two ways in, both recording the same lineage:

* :func:`retrain_on_export` right after a label project's export (``stackml label export`` calls
  it), for every monitor whose routed items go to that project;
* :func:`pending_retraining` from the server's monitor scheduler, which catches exports made
  any other way (the Python API, another machine) on its next tick.

A version is retrained at most once per monitor: before the pipeline starts, a
``dataset_version -retrain_requested-> monitor`` edge claims it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.monitoring.spec import MonitorSpec
from stackml.store.entities import LineageEdge

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.datasets_base import DatasetVersion

__all__ = [
    "monitors_for_project",
    "pending_retraining",
    "retrain_on_export",
    "trigger_retraining",
]

#: Role of the edge that claims a dataset version for one monitor's retraining.
CLAIM_ROLE = "retrain_requested"

#: ``(pipeline name, params, trigger, store) -> result with .run_id``
PipelineLauncher = Callable[[str, Mapping[str, Any], str, "Store"], Any]


def _run_with_pipelines(name: str, params: Mapping[str, Any], trigger: str, store: Store) -> Any:
    from stackml.pipelines import run_pipeline

    return run_pipeline(name, params=params, trigger=trigger, store=store)


def trigger_retraining(
    store: Store,
    monitor: str,
    version: DatasetVersion,
    *,
    dataset_param: str = "dataset",
    launcher: PipelineLauncher | None = None,
) -> Any:
    """Run the monitor's retraining pipeline on dataset ``version`` and record the lineage.

    The pipeline gets the monitor's ``retrain.params`` plus ``dataset_param`` set to
    ``NAME@vN``, with trigger ``dataset:NAME@vN``. Edges recorded: dataset version
    ``-trigger->`` pipeline run, and monitor ``-retrain->`` pipeline run. Returns the
    pipeline result (see :func:`stackml.pipelines.run_pipeline`).
    """
    spec = MonitorSpec.from_dict(store.metadata.get_monitor(monitor).spec)
    if spec.retrain is None or not spec.retrain.pipeline:
        raise InvalidInput(f"monitor {monitor!r} has no retraining pipeline configured")
    ref = version.label
    params = {**spec.retrain.params, dataset_param: ref}
    store.metadata.add_lineage(
        LineageEdge("dataset_version", version.ref, "monitor", monitor, CLAIM_ROLE)
    )
    result = (launcher or _run_with_pipelines)(
        spec.retrain.pipeline, params, f"dataset:{ref}", store
    )
    run_id = str(getattr(result, "run_id", ""))
    if run_id:
        store.metadata.add_lineage(
            LineageEdge("dataset_version", version.ref, "pipeline_run", run_id, "trigger")
        )
        store.metadata.add_lineage(
            LineageEdge("monitor", monitor, "pipeline_run", run_id, "retrain")
        )
    return result


def monitors_for_project(store: Store, project: str) -> list[str]:
    """Monitors that route items to label project ``project`` and have a retraining pipeline."""
    found = []
    for monitor in store.metadata.list_monitors():
        try:
            spec = MonitorSpec.from_dict(monitor.spec)
        except InvalidInput:
            continue  # a malformed stored spec is reported by ``run_monitor``, not here
        routed_here = spec.routing is not None and spec.routing.project == project
        if routed_here and spec.retrain is not None and spec.retrain.pipeline:
            found.append(monitor.name)
    return found


def _claimed(store: Store, version: DatasetVersion, monitor: str) -> bool:
    edges = store.metadata.list_lineage("dataset_version", version.ref, direction="downstream")
    return any(
        e.role == CLAIM_ROLE and e.target_type == "monitor" and e.target_id == monitor
        for e in edges
    )


def retrain_on_export(
    store: Store,
    project: str,
    version: DatasetVersion,
    *,
    launcher: PipelineLauncher | None = None,
) -> dict[str, Any]:
    """Retrain for every monitor routing into label project ``project`` now that its labels
    became dataset ``version``; answers ``{monitor: pipeline result}`` (empty when no monitor
    routes there). Versions already claimed by a monitor are not retrained again."""
    results: dict[str, Any] = {}
    for monitor in monitors_for_project(store, project):
        if not _claimed(store, version, monitor):
            results[monitor] = trigger_retraining(store, monitor, version, launcher=launcher)
    return results


def pending_retraining(store: Store) -> list[tuple[str, DatasetVersion]]:
    """``(monitor, version)`` pairs still to retrain: for each monitor routing into a label
    project, the newest dataset version exported from that project after the monitor was
    created, when no retraining has claimed it yet."""
    from stackml.errors import NotFound

    pending = []
    for monitor in store.metadata.list_monitors():
        try:
            spec = MonitorSpec.from_dict(monitor.spec)
        except InvalidInput:
            continue
        if not (spec.routing and spec.routing.project and spec.retrain and spec.retrain.pipeline):
            continue
        exported = [
            e.target_id
            for e in store.metadata.list_lineage(
                "label_project", spec.routing.project, direction="downstream"
            )
            if e.role == "labels" and e.target_type == "dataset_version"
        ]
        versions = []
        for ref in exported:
            name, _, vid = ref.partition("@")
            try:
                version = store.metadata.get_dataset_version(name, vid)
            except NotFound:
                continue
            if not version.deleted and version.created_at >= monitor.created_at:
                versions.append(version)
        if versions:
            newest = max(versions, key=lambda v: (v.created_at, v.number))
            if not _claimed(store, newest, monitor.name):
                pending.append((monitor.name, newest))
    return pending
