"""Import label files into a project and export its labels as files or a new dataset version."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.labeling import quality
from stackml.labeling.formats import (
    FORMATS,
    ExportItem,
    ImportItem,
    coco,
    csv_format,
    labelstudio,
    yolo,
)
from stackml.labeling.projects import ENTITY, all_annotations, all_tasks, get_store, image_data
from stackml.store.entities import LineageEdge
from stackml.store.labeling_entities import LabelConfig, TaskDraft

if TYPE_CHECKING:
    from stackml.store import Store
    from stackml.store.datasets_base import DatasetVersion

IMPORT_MODES = ("tasks", "prelabel", "annotations", "gold")
_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


def _machine_weight(machine: str | float) -> float | None:
    if machine == "include":
        return 1.0
    if machine == "exclude":
        return None
    if isinstance(machine, (int, float)) and not isinstance(machine, bool) and 0 <= machine <= 1:
        return float(machine)
    raise InvalidInput("machine labels are 'include', 'exclude' or a weight in [0, 1]")


def collect(
    store: Store,
    project: str,
    *,
    machine: str | float = "include",
    method: str = "majority",
    reviewed_only: bool = False,
) -> tuple[LabelConfig, list[ExportItem]]:
    """The labeled tasks of a project with their consensus values and provenance.

    Args:
        machine: ``"include"`` machine labels, ``"exclude"`` them, or weigh them (0..1).
        method: ``"majority"``, or ``"weighted"`` by each annotator's gold score.
        reviewed_only: keep only accepted annotations.
    """
    config = store.metadata.get_label_project(project).config
    weight = _machine_weight(machine)
    tasks = {t.id: t for t in all_tasks(store, project)}
    annotations = quality.live(all_annotations(store, project))
    if weight is None:
        annotations = [a for a in annotations if a.origin != "machine"]
    if reviewed_only:
        annotations = [a for a in annotations if a.status == "accepted"]
    weights = (
        quality.gold_scores(config, tasks.values(), annotations) if method == "weighted" else None
    )
    agreed = quality.consensus(
        config, annotations, method=method, weights=weights, machine_weight=weight or 0.0
    )
    grouped: dict[int, list[Any]] = defaultdict(list)
    for a in annotations:
        grouped[a.task_id].append(a)
    items = []
    for task_id in sorted(agreed):
        value, support = agreed[task_id]
        task = tasks[task_id]
        origins = {a.origin for a in grouped[task_id]}
        origin = (
            "machine" if origins == {"machine"} else "mixed" if "machine" in origins else "human"
        )
        file_name = None
        if isinstance(task.data.get("image"), str):
            file_name = f"images/task-{task.id}{_EXT.get(str(task.data.get('media_type')), '.png')}"
        items.append(
            ExportItem(
                task=task,
                value=value,
                file_name=file_name,
                support=support,
                origin=origin,
                weight=(weight or 0.0) if origin == "machine" else 1.0,
                annotators=tuple(sorted({a.user for a in grouped[task_id]})),
            )
        )
    return config, items


def write_files(
    store: Store,
    config: LabelConfig,
    items: list[ExportItem],
    folder: Path,
    formats: tuple[str, ...],
) -> list[str]:
    """Write images and the chosen formats into ``folder``; answer the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for item in items:
        if item.file_name:
            target = folder / item.file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.blobs.get_bytes(str(item.task.data["image"])))
    for fmt in formats:
        if fmt == "coco":
            (folder / "annotations.coco.json").write_text(
                json.dumps(coco.export_coco(config, items))
            )
            written.append("annotations.coco.json")
        elif fmt == "labelstudio":
            (folder / "labelstudio.json").write_text(
                json.dumps(labelstudio.export_labelstudio(config, items))
            )
            written.append("labelstudio.json")
        elif fmt == "yolo":
            for rel, text in yolo.export_yolo(config, items).items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_text(text)
                written.append(rel)
        elif fmt == "csv":
            (folder / "labels.csv").write_text(csv_format.export_csv(config, items))
            written.append("labels.csv")
        else:
            raise InvalidInput(f"unknown format {fmt!r}: use one of {FORMATS}")
    return written


def formats_for(config: LabelConfig) -> tuple[str, ...]:
    """Every format that can express a project's task type."""
    out = ["csv", "labelstudio"]
    if config.task_type in coco.SUPPORTED:
        out.append("coco")
    if config.task_type in yolo.SUPPORTED:
        out.append("yolo")
    return tuple(out)


def export_files(
    project: str,
    folder: str | Path,
    *,
    formats: tuple[str, ...] | None = None,
    machine: str | float = "include",
    method: str = "majority",
    reviewed_only: bool = False,
    store: Store | None = None,
) -> list[str]:
    """Export a project's labels into ``folder`` (images plus each format's files)."""
    store = get_store(store)
    config, items = collect(
        store, project, machine=machine, method=method, reviewed_only=reviewed_only
    )
    return write_files(store, config, items, Path(folder), formats or formats_for(config))


def export_dataset(
    project: str,
    name: str | None = None,
    *,
    machine: str | float = "include",
    method: str = "majority",
    reviewed_only: bool = False,
    message: str = "",
    store: Store | None = None,
) -> DatasetVersion:
    """Export a project's labels as a NEW version of dataset ``name`` (default
    ``<project>-labels``): images, every applicable format, and a table with one row per
    labeled task. Lineage: label project ``-labels->`` version, and the project's source
    version ``-derived->`` version.
    """
    from stackml.data.versions import add_version

    store = get_store(store)
    labeled = store.metadata.get_label_project(project)
    config, items = collect(
        store, project, machine=machine, method=method, reviewed_only=reviewed_only
    )
    if not items:
        raise InvalidInput(f"label project {project!r} has no labels to export yet")
    target = name or f"{project}-labels"
    table = csv_format.rows(config, items)
    with tempfile.TemporaryDirectory(prefix="stackml-labels-") as tmp:
        folder = Path(tmp)
        write_files(store, config, items, folder, formats_for(config))
        import pandas as pd

        frame = pd.DataFrame(table)
        images = config.task_type not in ("text_classification", "text_spans")
        version = add_version(
            store,
            target,
            folder,
            table=frame,
            path_column="path" if images else None,
            key="task_id",
            label="label" if config.task_type in csv_format.CLASS_TYPES else None,
            message=message or f"{len(items)} labels from label project {project}",
            use_cache=False,
        )
    store.metadata.add_lineage(
        LineageEdge(
            ENTITY, project, "dataset_version", version.ref, "labels", 0, {"machine": str(machine)}
        )
    )
    if labeled.source:
        store.metadata.add_lineage(
            LineageEdge(
                "dataset_version",
                labeled.source,
                "dataset_version",
                version.ref,
                "derived",
                0,
                {"via": f"{ENTITY}:{project}"},
            )
        )
    return version


@dataclass(frozen=True)
class ImportReport:
    """What an import added."""

    tasks: int
    annotations: int
    task_ids: tuple[int, ...]


def read_items(
    config: LabelConfig, path: Path, fmt: str, images_dir: Path | None
) -> list[ImportItem]:
    """Parse a label file (or YOLO folder) of format ``fmt``."""
    readers = {
        "coco": coco.import_coco,
        "labelstudio": labelstudio.import_labelstudio,
        "yolo": yolo.import_yolo,
        "csv": csv_format.import_csv,
    }
    if fmt not in readers:
        raise InvalidInput(f"unknown format {fmt!r}: use one of {FORMATS}")
    return readers[fmt](config, Path(path), images_dir)


def import_file(
    project: str,
    path: str | Path,
    fmt: str,
    *,
    images_dir: str | Path | None = None,
    mode: str = "prelabel",
    user: str = "import",
    source: str = "",
    store: Store | None = None,
) -> ImportReport:
    """Import a label file: every item becomes a task; its label (if the file has one)
    becomes a pre-label (``mode="prelabel"``), an annotation by its annotator or ``user``
    (``"annotations"``), a gold answer (``"gold"``), or is ignored (``"tasks"``).
    Images are validated by decoding them."""
    if mode not in IMPORT_MODES:
        raise InvalidInput(f"unknown import mode {mode!r}: use one of {IMPORT_MODES}")
    store = get_store(store)
    config = store.metadata.get_label_project(project).config
    items = read_items(config, Path(path), fmt, None if images_dir is None else Path(images_dir))
    drafts = []
    for item in items:
        data = dict(item.data)
        if item.image_path is not None:
            if not item.image_path.is_file():
                raise InvalidInput(f"image {item.image_path} does not exist")
            data = image_data(store, item.image_path, **data)
        drafts.append(
            TaskDraft(
                data,
                source=source or f"import:{Path(path).name}",
                key=item.key[:250],
                prelabel={"value": item.value, "model": f"import:{fmt}"}
                if mode == "prelabel" and item.value
                else None,
                gold=item.value if mode == "gold" else None,
            )
        )
    ids = store.metadata.add_label_tasks(project, drafts)
    count = 0
    if mode == "annotations":
        from stackml._internal.names import InvalidName, validate_name

        for task_id, item in zip(ids, items, strict=True):
            if item.value is None:
                continue
            who = user
            if item.annotator:
                try:
                    who = validate_name(item.annotator.split(",")[0], what="annotator")
                except InvalidName:
                    who = user
            store.metadata.submit_annotation(task_id, who, item.value)
            count += 1
    return ImportReport(len(ids), count, tuple(ids))
