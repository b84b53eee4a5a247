"""Label projects and their queues: the Python API behind ``stackml.labeling``.

Every function takes an optional ``store`` (default: the store ``stackml`` finds, like
``git`` finds its repository), so the same code runs embedded or against a server.
"""

from __future__ import annotations

import getpass
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackml.errors import InvalidInput
from stackml.labeling.images import decode_image
from stackml.store.entities import LineageEdge
from stackml.store.labeling_entities import (
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

_HASH = re.compile(r"[0-9a-f]{64}")
#: Lineage entity type of a label project.
ENTITY = "label_project"


def get_store(store: Store | None = None) -> Store:
    """``store``, or the one stackml finds from the environment."""
    if store is not None:
        return store
    from stackml.tracking.api import get_store as find

    return find()


def current_user() -> str:
    """The operating-system user, the default annotator name of local calls."""
    try:
        return getpass.getuser() or "anonymous"
    except (KeyError, OSError):
        return "anonymous"


def create_project(
    name: str,
    task_type: str,
    classes: Sequence[str | Mapping[str, str] | LabelClass],
    *,
    instructions: str = "",
    overlap: int = 1,
    lease_s: float = 600.0,
    keypoints: Sequence[str] = (),
    description: str = "",
    source: str | None = None,
    created_by: str | None = None,
    store: Store | None = None,
) -> LabelProject:
    """Create a label project.

    Args:
        name: project name (letters, digits, ``.``, ``_``, ``-``).
        task_type: one of :data:`~stackml.store.labeling_entities.TASK_TYPES`.
        classes: names, or ``{"name", "color", "hotkey"}`` mappings (colors and hotkeys are
            filled in when left out).
        instructions: what annotators read first (shown as text, never as markup).
        overlap: annotators per task (k > 1 for agreement and consensus).
        lease_s: how long a task stays with an annotator before it returns to the queue.
        keypoints: keypoint names (``keypoints`` projects).
        source: the dataset version (``name@id``) the project runs over, if any.
    """
    config = LabelConfig.from_dict(
        {
            "task_type": task_type,
            "classes": [
                {"name": c.name, "color": c.color, "hotkey": c.hotkey}
                if isinstance(c, LabelClass)
                else c
                for c in classes
            ],
            "instructions": instructions,
            "overlap": overlap,
            "lease_s": lease_s,
            "keypoints": list(keypoints),
        }
    )
    return get_store(store).metadata.create_label_project(
        name,
        config,
        description=description,
        source=source,
        created_by=created_by or current_user(),
    )


def image_data(store: Store, image: bytes | str | Path, **extra: Any) -> dict[str, Any]:
    """Task data for an image: validated by decoding, stored as a blob.

    ``image`` is the bytes, a file path, or the hash of a blob already stored.
    """
    digest: str | None = None
    if isinstance(image, str) and _HASH.fullmatch(image) and store.blobs.exists(image):
        data = store.blobs.get_bytes(image)  # verified against its hash on read
        digest = image  # already stored: hashing it again to store it would change nothing
    elif isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
    elif isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    else:
        raise InvalidInput("an image is bytes, a file path or a blob hash")
    info = decode_image(data)
    if digest is None:
        digest = store.blobs.put_bytes(data)
    return {
        **extra,
        "image": digest,
        "width": info.width,
        "height": info.height,
        "media_type": info.media_type,
    }


def _draft(
    store: Store, item: Mapping[str, Any] | TaskDraft, priority: float, source: str
) -> TaskDraft:
    if isinstance(item, TaskDraft):
        return item
    if not isinstance(item, Mapping):
        raise InvalidInput("an item is a mapping (data plus optional prelabel, gold, key)")
    item = dict(item)
    meta = {
        k: item.pop(k)
        for k in ("prelabel", "gold", "key", "priority", "assignee", "source")
        if k in item
    }
    prelabel = meta.get("prelabel")
    if isinstance(prelabel, Mapping) and isinstance(prelabel.get("value"), (str, int)):
        # A classifier's prediction given as its label ("7"): the value of a class task.
        prelabel = {**prelabel, "value": {"class": str(prelabel["value"])}}
    image = item.pop("image_bytes", None) or item.pop("image_path", None)
    data = image_data(store, image, **item) if image is not None else item
    return TaskDraft(
        data,
        priority=float(meta.get("priority", priority)),
        source=str(meta.get("source", source)),
        key=meta.get("key"),
        prelabel=prelabel,
        gold=meta.get("gold"),
        assignee=meta.get("assignee"),
    )


def add_tasks(
    project: str,
    items: Iterable[Mapping[str, Any] | TaskDraft],
    *,
    priority: float | Sequence[float] = 0.0,
    source: str = "",
    store: Store | None = None,
) -> list[int]:
    """Push items into a project's queue; answer their task ids.

    An item is a mapping of task data (``{"text": ...}``, or ``{"image": <blob hash>, "width",
    "height"}``; ``image_bytes``/``image_path`` are decoded and stored for you) plus optional
    ``prelabel`` (a model's suggestion: ``{"value", "model", "confidence"}``), ``gold`` (a
    known answer), ``key`` and ``priority``. ``source`` records where they came from (e.g.
    ``"monitoring:digits-prod"``). This is what the monitoring flywheel calls.
    """
    store = get_store(store)
    listed = list(items)
    if isinstance(priority, (int, float)):
        priorities = [float(priority)] * len(listed)
    else:
        priorities = [float(p) for p in priority]
        if len(priorities) != len(listed):
            raise InvalidInput("give one priority per item")
    drafts = [_draft(store, item, p, source) for item, p in zip(listed, priorities, strict=True)]
    return store.metadata.add_label_tasks(project, drafts)


def tasks_from_dataset(
    project: str,
    dataset: str,
    *,
    label_column: str | None = None,
    as_prelabel: bool = False,
    limit: int | None = None,
    store: Store | None = None,
) -> list[int]:
    """Make a task of every image (or text row) of a dataset version ``name@ref``.

    Image versions: one task per image file (its row of the table, if any, rides along as
    data). Table-only versions need a ``text`` column. With ``label_column`` and
    ``as_prelabel`` the existing labels become editable suggestions. Records lineage
    ``dataset_version -source-> label_project``.
    """
    import stackml.data as sd

    store = get_store(store)
    name, ref = sd.parse_ref(dataset)
    handle = sd.get(name, ref, store=store)
    rows: dict[str, dict[str, Any]] = {}
    path_column = handle.version.schema.get("path_column")
    table = handle.to_pandas() if handle.version.table_hash else None
    drafts = []
    if handle.version.manifest_hash:
        if table is not None and path_column:
            rows = {str(r[path_column]): r for r in table.to_dict("records")}
        images = [e for e in handle.manifest.entries if e.media_type.startswith("image/")]
        for entry in images[:limit]:
            record = {k: _plain(v) for k, v in rows.get(entry.path, {}).items()}
            data = image_data(
                store, entry.hash, path=entry.path, **{f"field.{k}": v for k, v in record.items()}
            )
            prelabel = None
            if as_prelabel and label_column and label_column in record:
                prelabel = {"value": {"class": str(record[label_column])}, "model": dataset}
            drafts.append(TaskDraft(data, source=handle.ref, key=entry.path, prelabel=prelabel))
    elif table is not None and "text" in table.columns:
        for i, r in enumerate(table.to_dict("records")[:limit]):
            record = {k: _plain(v) for k, v in r.items()}
            drafts.append(TaskDraft(record, source=handle.ref, key=str(i)))
    else:
        raise InvalidInput(f"{handle.version.label} has neither images nor a 'text' column")
    ids = store.metadata.add_label_tasks(project, drafts)
    store.metadata.add_lineage(
        LineageEdge("dataset_version", handle.ref, ENTITY, project, "source")
    )
    return ids


def _plain(value: Any) -> Any:
    """A table cell as plain JSON."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def next_tasks(
    project: str, *, user: str | None = None, limit: int = 1, store: Store | None = None
) -> list[LabelTask]:
    """Lease the next tasks to ``user`` (default: the current OS user)."""
    return get_store(store).metadata.next_label_tasks(project, user or current_user(), limit=limit)


def submit(
    task_id: int,
    value: Mapping[str, Any],
    *,
    user: str | None = None,
    duration_ms: int | None = None,
    store: Store | None = None,
) -> Annotation:
    """Submit ``user``'s label for a task (see :mod:`stackml.store.labeling_values`)."""
    return get_store(store).metadata.submit_annotation(
        task_id, user or current_user(), value, duration_ms=duration_ms
    )


def skip(
    task_id: int, reason: str, *, user: str | None = None, store: Store | None = None
) -> LabelTask:
    """Give a leased task back with a reason."""
    return get_store(store).metadata.skip_label_task(task_id, user or current_user(), reason)


def review(
    annotation_id: int,
    decision: str,
    *,
    comment: str = "",
    value: Mapping[str, Any] | None = None,
    reviewer: str | None = None,
    store: Store | None = None,
) -> Annotation:
    """Accept, reject (with a comment) or fix an annotation."""
    return get_store(store).metadata.review_annotation(
        annotation_id, reviewer or current_user(), decision, comment=comment, value=value
    )


def assign(
    project: str, task_ids: Sequence[int], assignee: str | None, *, store: Store | None = None
) -> int:
    """Reserve tasks for a user or ``@group``."""
    return get_store(store).metadata.assign_label_tasks(project, task_ids, assignee)


def progress(project: str, *, store: Store | None = None) -> LabelProgress:
    """Counts of tasks and annotations."""
    return get_store(store).metadata.label_progress(project)


def all_tasks(store: Store, project: str) -> list[LabelTask]:
    """Every task of a project, paging through the store."""
    out: list[LabelTask] = []
    after = 0
    while True:
        page = store.metadata.list_label_tasks(project, after_id=after, limit=10_000)
        if not page:
            return out
        out.extend(page)
        after = page[-1].id


def all_annotations(store: Store, project: str) -> list[Annotation]:
    """Every annotation of a project, paging through the store."""
    out: list[Annotation] = []
    after = 0
    while True:
        page = store.metadata.list_annotations(project, after_id=after, limit=10_000)
        if not page:
            return out
        out.extend(page)
        after = page[-1].id


def image_bytes(store: Store, task: LabelTask) -> bytes:
    """The image of an image task."""
    digest = task.data.get("image")
    if not isinstance(digest, str):
        raise InvalidInput(f"task {task.id} has no image")
    return store.blobs.get_bytes(digest)


def open_image(store: Store, task: LabelTask) -> Any:
    """The image of a task as a Pillow image."""
    from PIL import Image

    return Image.open(io.BytesIO(image_bytes(store, task)))
