"""Labeling: label projects, queues with leases, quality control, active learning,
auto-labeling and label formats.

::

    import stackml.labeling as sl

    sl.create_project("pets", "bboxes", ["cat", "dog"], overlap=2)
    ids = sl.add_tasks("pets", [{"image_path": "cat.png"}], priority=1.0, source="upload")
    task = sl.next_tasks("pets", user="ada")[0]
    sl.submit(task.id, {"boxes": [{"class": "cat", "x": 4, "y": 2, "w": 30, "h": 20}]}, user="ada")
    sl.agreement("pets"); sl.annotator_stats("pets")
    sl.rank("pets", model, strategy="entropy")           # active learning
    sl.auto_label("pets", model, threshold=0.95)          # machine labels, audited
    sl.export_dataset("pets")                              # a new dataset version

Every function takes ``store=`` (default: the store stackml finds from the environment).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackml.labeling.active import STRATEGIES, k_center_greedy, rank_tasks
from stackml.labeling.autolabel import AutoLabelReport, auto_label
from stackml.labeling.formats import FORMATS
from stackml.labeling.projects import (
    add_tasks,
    all_annotations,
    all_tasks,
    assign,
    create_project,
    get_store,
    next_tasks,
    progress,
    review,
    skip,
    submit,
    tasks_from_dataset,
)
from stackml.labeling.quality import (
    Agreement,
    AnnotatorStats,
    cohen_kappa,
    fleiss_kappa,
)
from stackml.labeling.transfer import ImportReport, export_dataset, export_files, import_file
from stackml.store.labeling_entities import (
    TASK_TYPES,
    Annotation,
    LabelClass,
    LabelConfig,
    LabelProgress,
    LabelProject,
    LabelTask,
    TaskDraft,
)

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = [
    "FORMATS",
    "STRATEGIES",
    "TASK_TYPES",
    "Agreement",
    "Annotation",
    "AnnotatorStats",
    "AutoLabelReport",
    "ImportReport",
    "LabelClass",
    "LabelConfig",
    "LabelProgress",
    "LabelProject",
    "LabelTask",
    "TaskDraft",
    "add_tasks",
    "agreement",
    "annotator_stats",
    "assign",
    "auto_label",
    "cohen_kappa",
    "consensus",
    "create_project",
    "export_dataset",
    "export_files",
    "fleiss_kappa",
    "import_file",
    "k_center_greedy",
    "next_tasks",
    "progress",
    "rank",
    "review",
    "skip",
    "submit",
    "tasks_from_dataset",
]


def agreement(project: str, *, store: Store | None = None) -> Agreement:
    """Inter-annotator agreement of a project (kappa for classes, IoU for shapes)."""
    from stackml.labeling import quality

    store = get_store(store)
    config = store.metadata.get_label_project(project).config
    return quality.agreement(config, all_annotations(store, project))


def annotator_stats(project: str, *, store: Store | None = None) -> list[AnnotatorStats]:
    """Per annotator: speed, agreement, accuracy on gold tasks and review outcomes."""
    from stackml.labeling import quality

    store = get_store(store)
    config = store.metadata.get_label_project(project).config
    return quality.annotator_stats(
        config, all_tasks(store, project), all_annotations(store, project)
    )


def consensus(
    project: str, *, method: str = "majority", store: Store | None = None
) -> dict[int, tuple[dict, float]]:
    """Consensus value and support per task (``"weighted"``: by annotators' gold scores)."""
    from stackml.labeling import quality

    store = get_store(store)
    config = store.metadata.get_label_project(project).config
    annotations = all_annotations(store, project)
    weights = None
    if method == "weighted":
        weights = quality.gold_scores(config, all_tasks(store, project), annotations)
    return quality.consensus(config, annotations, method=method, weights=weights)


def rank(
    project: str, model: object, *, strategy: str = "entropy", store: Store | None = None
) -> dict[int, float]:
    """Score the open tasks with ``model`` and reorder the queue (active learning)."""
    return rank_tasks(get_store(store), project, model, strategy=strategy)  # type: ignore[arg-type]
