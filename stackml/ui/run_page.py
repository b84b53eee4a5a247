"""The run page's view model: identity, params, tags, system information and charts."""

from __future__ import annotations

from dataclasses import dataclass, field

from stackml.errors import NotFound
from stackml.store import Store
from stackml.store.entities import Artifact, Run
from stackml.ui.artifacts import TreeNode, build_tree
from stackml.ui.lineage import LineagePanel, build_lineage_panel
from stackml.ui.training_panel import TrainingPanel, build_training_panel

#: Tags the tracking SDK writes about the environment; shown as system information.
SYSTEM_TAG_PREFIX = "stackml."
REQUIREMENTS_PATH = "environment/requirements.txt"
_REQUIREMENTS_BYTES = 256 * 1024


@dataclass
class RunPage:
    """Everything the run page renders."""

    run: Run
    experiment: str
    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]
    system: list[tuple[str, str]]
    metric_keys: list[str]
    artifacts: TreeNode
    artifact_count: int
    packages: list[str] = field(default_factory=list)
    lineage: LineagePanel | None = None
    parent: Run | None = None
    training: TrainingPanel | None = None


def _packages(store: Store, artifacts: list[Artifact]) -> list[str]:
    found = next((a for a in artifacts if a.path == REQUIREMENTS_PATH), None)
    if found is None:
        return []
    with store.blobs.open(found.blob_hash) as fh:
        text = fh.read(_REQUIREMENTS_BYTES).decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def build_run_page(store: Store, run_id: str) -> RunPage:
    """Read a run and what its page shows. Raises ``NotFound`` for an unknown run."""
    meta = store.metadata
    run = meta.get_run(run_id)
    try:
        experiment = meta.get_experiment(run.experiment_id).name
    except NotFound:
        experiment = run.experiment_id
    artifacts = meta.list_artifacts(run.id)
    parent = None
    if run.parent_id:
        try:
            parent = meta.get_run(run.parent_id)
        except NotFound:
            parent = None
    return RunPage(
        run=run,
        experiment=experiment,
        params=sorted(run.params.items()),
        tags=sorted((k, v) for k, v in run.tags.items() if not k.startswith(SYSTEM_TAG_PREFIX)),
        system=sorted(
            (k.removeprefix(SYSTEM_TAG_PREFIX), v)
            for k, v in run.tags.items()
            if k.startswith(SYSTEM_TAG_PREFIX)
        ),
        metric_keys=sorted(run.metrics),
        artifacts=build_tree(artifacts),
        artifact_count=len(artifacts),
        packages=_packages(store, artifacts),
        lineage=build_lineage_panel(meta, "run", run.id),
        parent=parent,
        training=build_training_panel(store, run, artifacts),
    )
