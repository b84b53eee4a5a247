"""View models of the labeling pages: the projects list, a project's overview (progress,
classes, instructions, annotator statistics, agreement), the annotator workspace and the
review queue with side-by-side views of every annotator's work on an item.

Shapes in the review queue are drawn as server-side SVG from numbers only (class names are
text nodes, escaped by Jinja), so no annotation content ever reaches the page as markup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from stackml.ui.lineage import register_entity_link
from stackml.ui.rendering import Area, register_area
from stackml.ui.search import SearchHit, SearchProvider, register_search_provider

if TYPE_CHECKING:
    from stackml.labeling.quality import Agreement, AnnotatorStats
    from stackml.store import Store
    from stackml.store.base import MetadataStore
    from stackml.store.labeling_entities import (
        Annotation,
        LabelConfig,
        LabelProgress,
        LabelProject,
        LabelTask,
    )

register_area(Area("labeling", "Labeling", "/labeling"), after="datasets")
register_entity_link(
    "label_project", lambda name: f"/labeling/{quote(name, safe='')}", "Label project"
)

#: Tasks shown per page of the review queue.
REVIEW_PAGE = 12


def _find_projects(store: MetadataStore, text: str, limit: int) -> list[SearchHit]:
    needle = text.lower()
    hits = []
    for p in store.list_label_projects():
        if needle in p.name.lower() or needle in p.description.lower():
            hits.append(
                SearchHit(p.name, f"/labeling/{quote(p.name, safe='')}", p.config.task_type)
            )
    return hits[:limit]


register_search_provider(SearchProvider("label_projects", "Label projects", _find_projects))


@dataclass(frozen=True)
class ProjectRow:
    """A row of the projects list."""

    project: LabelProject
    progress: LabelProgress


def list_projects(store: Store) -> list[ProjectRow]:
    """Every label project with its progress."""
    meta = store.metadata
    return [ProjectRow(p, meta.label_progress(p.name)) for p in meta.list_label_projects()]


@dataclass(frozen=True)
class ProjectPage:
    """Everything the project overview shows."""

    project: LabelProject
    progress: LabelProgress
    stats: list[AnnotatorStats]
    agreement: Agreement
    pending_review: int
    exports: list[Any] = field(default_factory=list)


def build_project_page(store: Store, name: str) -> ProjectPage:
    """The overview of label project ``name``. Raises ``NotFound``."""
    from stackml.labeling import quality
    from stackml.labeling.projects import all_annotations, all_tasks

    meta = store.metadata
    project = meta.get_label_project(name)
    annotations = all_annotations(store, name)
    stats = quality.annotator_stats(project.config, all_tasks(store, name), annotations)
    exports = meta.list_lineage("label_project", name, direction="downstream")
    return ProjectPage(
        project=project,
        progress=meta.label_progress(name),
        stats=stats,
        agreement=quality.agreement(project.config, annotations),
        pending_review=sum(a.status in ("submitted", "audit") for a in annotations),
        exports=exports,
    )


def workspace_config(project: LabelProject) -> str:
    """The JSON the annotator page hands its script (through an escaped attribute)."""
    config: LabelConfig = project.config
    return json.dumps(
        {
            "project": project.name,
            "task_type": config.task_type,
            "classes": [
                {"name": c.name, "color": c.color, "hotkey": c.hotkey} for c in config.classes
            ],
            "keypoints": list(config.keypoints),
            "overlap": config.overlap,
        }
    )


@dataclass(frozen=True)
class Shape:
    """An SVG shape of the review view (numbers and a class name only)."""

    kind: str
    cls: str
    color: str
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    points: str = ""


@dataclass(frozen=True)
class ReviewCard:
    """One annotator's answer on an item."""

    annotation: Annotation
    shapes: list[Shape]
    summary: str


@dataclass(frozen=True)
class ReviewItem:
    """An item waiting for review and every annotator's answer on it, side by side."""

    task: LabelTask
    cards: list[ReviewCard]
    segments: list[tuple[str, str | None, str]] = field(default_factory=list)


def _shapes(config: LabelConfig, value: dict[str, Any]) -> list[Shape]:
    colors = {c.name: c.color for c in config.classes}
    out = []
    for b in value.get("boxes", []):
        out.append(
            Shape(
                "rect",
                b["class"],
                colors.get(b["class"], "#888888"),
                b["x"],
                b["y"],
                b["w"],
                b["h"],
            )
        )
    for p in value.get("polygons", []):
        pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in p["points"])
        out.append(Shape("polygon", p["class"], colors.get(p["class"], "#888888"), points=pts))
    for inst in value.get("instances", []):
        for x, y, v in inst["points"]:
            if v:
                out.append(
                    Shape("point", inst["class"], colors.get(inst["class"], "#888888"), x, y)
                )
    return out


def summary(config: LabelConfig, value: dict[str, Any]) -> str:
    """A one-line text summary of a value."""
    if "class" in value:
        return str(value["class"])
    if "classes" in value:
        return ", ".join(value["classes"]) or "no class"
    for key, noun in (
        ("boxes", "box"),
        ("polygons", "polygon"),
        ("instances", "instance"),
        ("spans", "span"),
    ):
        if key in value:
            n = len(value[key])
            plural = "es" if noun == "box" else "s"
            return f"{n} {noun}{'' if n == 1 else plural}"
    return ""


def _segments(
    text: str, spans: list[dict[str, Any]], colors: dict[str, str]
) -> list[tuple[str, str | None, str]]:
    """Text cut into (piece, class or None, color) for highlighting spans."""
    out: list[tuple[str, str | None, str]] = []
    pos = 0
    for s in sorted(spans, key=lambda s: s["start"]):
        if s["start"] < pos:
            continue
        if s["start"] > pos:
            out.append((text[pos : s["start"]], None, ""))
        out.append((text[s["start"] : s["end"]], s["class"], colors.get(s["class"], "#888888")))
        pos = s["end"]
    if pos < len(text):
        out.append((text[pos:], None, ""))
    return out


def build_review_queue(
    store: Store, name: str, *, status: str = "pending"
) -> tuple[LabelProject, list[ReviewItem]]:
    """Items with annotations waiting for review (``status="pending"``), newest tasks last."""
    from stackml.labeling.projects import all_annotations

    meta = store.metadata
    project = meta.get_label_project(name)
    annotations = all_annotations(store, name)
    pending_tasks: list[int] = []
    for a in annotations:
        if a.status in ("submitted", "audit") and a.task_id not in pending_tasks:
            pending_tasks.append(a.task_id)
    colors = {c.name: c.color for c in project.config.classes}
    items = []
    for task_id in pending_tasks[:REVIEW_PAGE]:
        task = meta.get_label_task(task_id)
        mine = [a for a in annotations if a.task_id == task_id and a.status != "fixed"]
        cards = [
            ReviewCard(
                a, _shapes(project.config, dict(a.value)), summary(project.config, dict(a.value))
            )
            for a in mine
        ]
        segments = []
        if project.config.task_type == "text_spans":
            segments = _segments(str(task.data.get("text", "")), [], colors)
        items.append(ReviewItem(task, cards, segments))
    return project, items


def span_segments(
    project: LabelProject, task: LabelTask, value: dict[str, Any]
) -> list[tuple[str, str | None, str]]:
    """The task's text cut for highlighting one answer's spans."""
    colors = {c.name: c.color for c in project.config.classes}
    return _segments(str(task.data.get("text", "")), list(value.get("spans", [])), colors)
