"""Retraining trigger: a new labeled dataset version starts the monitor's retraining pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.monitoring.spec import MonitorSpec
from stackml.store.entities import LineageEdge

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.datasets_base import DatasetVersion

__all__ = ["trigger_retraining"]

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
    ref = f"{version.dataset}@v{version.number}"
    params = {**spec.retrain.params, dataset_param: ref}
    result = (launcher or _run_with_pipelines)(
        spec.retrain.pipeline, params, f"dataset:{ref}", store
    )
    run_id = str(getattr(result, "run_id", ""))
    if run_id:
        store.metadata.add_lineage(
            LineageEdge("dataset_version", version.id, "pipeline_run", run_id, "trigger")
        )
        store.metadata.add_lineage(
            LineageEdge("monitor", monitor, "pipeline_run", run_id, "retrain")
        )
    return result
