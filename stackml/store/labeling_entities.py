"""Snapshots of the labeling capability and the checks of a label project's configuration.

A *label project* runs over a dataset version or over items pushed through the API. Its
:class:`LabelConfig` says what kind of label is asked for (:data:`TASK_TYPES`), which classes
exist (each with a color and a hotkey), what annotators read first, how many annotators label
each task (``overlap``) and how long a task stays leased to one of them (``lease_s``).

Annotation values are plain JSON whose shape depends on the task type; see
:mod:`stackml.store.labeling_values`, which validates and clamps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackml.errors import InvalidInput

#: Every kind of label a project can ask for. Segmentation comes as ``polygons`` (exported as
#: COCO polygon segmentations) or as pixel ``masks`` (COCO run-length encodings).
TASK_TYPES: tuple[str, ...] = (
    "image_classification",
    "image_multilabel",
    "bboxes",
    "polygons",
    "keypoints",
    "masks",
    "text_classification",
    "text_spans",
)
IMAGE_TYPES = frozenset(TASK_TYPES[:6])
TEXT_TYPES = frozenset(TASK_TYPES[6:])
#: Roles in a label project, weakest first: each role may do what the ones before it may.
ROLES: tuple[str, ...] = ("annotator", "reviewer", "manager")
#: Task states: ``open`` (a slot is free), ``leased`` (every free slot is leased), ``done``.
TASK_STATES: tuple[str, ...] = ("open", "leased", "done")
#: Annotation states along the review workflow.
ANNOTATION_STATES: tuple[str, ...] = ("submitted", "audit", "accepted", "rejected", "fixed")
#: Where an annotation came from.
ORIGINS: tuple[str, ...] = ("human", "machine", "review")
REVIEW_DECISIONS: tuple[str, ...] = ("accept", "reject", "fix")

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_HOTKEY = re.compile(r"^[a-z0-9]$")
#: Keys the annotator UI keeps for itself.
RESERVED_KEYS = frozenset({"n", "p", "s", "z", "y", "b", "d", "e", "r", "f", "v"})
_PALETTE = (
    "#4f6bff",
    "#e5484d",
    "#12a594",
    "#f5a524",
    "#8e4ec6",
    "#0090ff",
    "#e93d82",
    "#46a758",
    "#f76b15",
    "#6e56cf",
)
MAX_CLASSES = 200
MAX_INSTRUCTIONS = 20_000


@dataclass(frozen=True)
class LabelClass:
    """A class annotators can pick: its name, display color (``#rrggbb``) and hotkey."""

    name: str
    color: str = ""
    hotkey: str = ""


@dataclass(frozen=True)
class LabelConfig:
    """What a label project asks for and how its queue behaves."""

    task_type: str
    classes: tuple[LabelClass, ...]
    instructions: str = ""
    overlap: int = 1
    lease_s: float = 600.0
    keypoints: tuple[str, ...] = ()

    def class_names(self) -> list[str]:
        """The class names in order."""
        return [c.name for c in self.classes]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (stored in the project row, sent over HTTP)."""
        return {
            "task_type": self.task_type,
            "classes": [
                {"name": c.name, "color": c.color, "hotkey": c.hotkey} for c in self.classes
            ],
            "instructions": self.instructions,
            "overlap": self.overlap,
            "lease_s": self.lease_s,
            "keypoints": list(self.keypoints),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LabelConfig:
        """Parse and check a plain mapping (see :func:`check_config`)."""
        if not isinstance(doc, Mapping):
            raise InvalidInput("a label config must be a mapping")
        raw_classes = doc.get("classes") or []
        if not isinstance(raw_classes, (list, tuple)):
            raise InvalidInput("classes must be a list of names or {name, color, hotkey}")
        classes = []
        for item in raw_classes:
            if isinstance(item, str):
                classes.append(LabelClass(item))
            elif isinstance(item, Mapping):
                classes.append(
                    LabelClass(
                        str(item.get("name", "")),
                        str(item.get("color") or ""),
                        str(item.get("hotkey") or ""),
                    )
                )
            elif isinstance(item, LabelClass):
                classes.append(item)
            else:
                raise InvalidInput(f"a class must be a name or a mapping, not {item!r}")
        return check_config(
            cls(
                task_type=str(doc.get("task_type", "")),
                classes=tuple(classes),
                instructions=str(doc.get("instructions") or ""),
                overlap=doc.get("overlap", 1),
                lease_s=doc.get("lease_s", 600.0),
                keypoints=tuple(str(k) for k in (doc.get("keypoints") or ())),
            )
        )


def check_config(config: LabelConfig) -> LabelConfig:
    """Validate a config, filling in colors and hotkeys that were left empty.

    Class names are free text (shown as text, never as markup) of at most 100 characters;
    colors are ``#rrggbb``; hotkeys are one lower-case letter or digit not used by the UI.
    """
    if config.task_type not in TASK_TYPES:
        raise InvalidInput(f"unknown task type {config.task_type!r}: use one of {TASK_TYPES}")
    if not config.classes:
        raise InvalidInput("a label project needs at least one class")
    if len(config.classes) > MAX_CLASSES:
        raise InvalidInput(f"at most {MAX_CLASSES} classes")
    overlap = config.overlap
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap <= 20:
        raise InvalidInput("overlap (annotators per task) must be an integer from 1 to 20")
    lease = config.lease_s
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 0 < lease <= 86400:
        raise InvalidInput("lease_s must be a number of seconds in (0, 86400]")
    if not isinstance(config.instructions, str) or len(config.instructions) > MAX_INSTRUCTIONS:
        raise InvalidInput(f"instructions must be text of at most {MAX_INSTRUCTIONS} characters")
    if config.task_type == "keypoints" and not config.keypoints:
        raise InvalidInput("a keypoints project needs keypoint names, e.g. ['head', 'tail']")
    for name in config.keypoints:
        _check_text(name, "keypoint name", 64)
    seen: set[str] = set()
    used_keys: set[str] = set()
    free_keys = [k for k in "1234567890" + "acfghijklmoqtuvwx" if k not in RESERVED_KEYS]
    classes = []
    for i, c in enumerate(config.classes):
        _check_text(c.name, "class name", 100)
        if c.name in seen:
            raise InvalidInput(f"class {c.name!r} is listed twice")
        seen.add(c.name)
        color = c.color or _PALETTE[i % len(_PALETTE)]
        if not _COLOR.match(color):
            raise InvalidInput(f"class {c.name!r}: color must be #rrggbb, not {color!r}")
        hotkey = c.hotkey.lower()
        if hotkey:
            if not _HOTKEY.match(hotkey) or hotkey in RESERVED_KEYS:
                raise InvalidInput(
                    f"class {c.name!r}: hotkey must be one letter or digit other than "
                    f"{''.join(sorted(RESERVED_KEYS))}"
                )
            if hotkey in used_keys:
                raise InvalidInput(f"hotkey {hotkey!r} is used by two classes")
        used_keys.add(hotkey)
        classes.append(LabelClass(c.name, color.lower(), hotkey))
    filled = []
    for c in classes:
        if not c.hotkey:
            key = next((k for k in free_keys if k not in used_keys), "")
            used_keys.add(key)
            c = LabelClass(c.name, c.color, key)
        filled.append(c)
    return LabelConfig(
        config.task_type,
        tuple(filled),
        config.instructions,
        int(overlap),
        float(lease),
        tuple(config.keypoints),
    )


def _check_text(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInput(f"{what} must be non-empty text of at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidInput(f"{what} {value!r} contains control characters")
    return value


@dataclass(frozen=True)
class LabelProject:
    """A label project: its config, where its items come from, and who made it."""

    name: str
    description: str
    config: LabelConfig
    source: str | None
    created_by: str
    created_at: int


@dataclass(frozen=True)
class LabelMember:
    """A user's role in a label project."""

    project: str
    user: str
    role: str


@dataclass(frozen=True)
class TaskDraft:
    """An item to push into a project's queue.

    ``data`` holds the item: ``{"image": <blob hash>, "width": W, "height": H, "path": ...}``
    for images, ``{"text": ...}`` for text, plus any record fields. ``prelabel`` is a model's
    suggestion shown to annotators (``{"value": ..., "model": ..., "confidence": ...}``);
    ``gold`` a known answer that scores annotators; ``assignee`` a user name or ``@group``.
    """

    data: Mapping[str, Any]
    priority: float = 0.0
    source: str = ""
    key: str | None = None
    prelabel: Mapping[str, Any] | None = None
    gold: Mapping[str, Any] | None = None
    assignee: str | None = None


@dataclass(frozen=True)
class LabelTask:
    """A task of a project's queue. ``lease_expires_at`` is set on tasks handed out."""

    id: int
    project: str
    key: str | None
    data: Mapping[str, Any]
    priority: float
    source: str
    prelabel: Mapping[str, Any] | None
    gold: Mapping[str, Any] | None
    assignee: str | None
    state: str
    done_count: int
    created_at: int
    lease_expires_at: int | None = None


@dataclass(frozen=True)
class Annotation:
    """One label of one task: who made it, when, how long it took, and its review."""

    id: int
    task_id: int
    project: str
    user: str
    value: Mapping[str, Any]
    origin: str
    status: str
    created_at: int
    started_at: int | None = None
    duration_ms: int | None = None
    model: str | None = None
    confidence: float | None = None
    extra: bool = False
    comment: str = ""
    reviewer: str | None = None
    reviewed_at: int | None = None


@dataclass(frozen=True)
class LabelProgress:
    """How far a project is: tasks by state, annotations by review status and origin."""

    project: str
    total: int
    open: int
    leased: int
    done: int
    annotations: int
    submitted: int
    accepted: int
    rejected: int
    machine: int
    skipped: int
    per_user: Mapping[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        """Done tasks as a share of all tasks, 0..100."""
        return 100.0 * self.done / self.total if self.total else 0.0


def role_at_least(role: str | None, wanted: str) -> bool:
    """Whether ``role`` may do what ``wanted`` may (manager > reviewer > annotator)."""
    if role is None:
        return False
    return ROLES.index(role) >= ROLES.index(wanted)


def check_role(role: object) -> str:
    """A valid role name."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {ROLES}")
    return str(role)


def check_ids(ids: Sequence[object], what: str = "task ids") -> list[int]:
    """A list of positive integer ids."""
    if not isinstance(ids, (list, tuple)):
        raise InvalidInput(f"{what} must be a list of integers")
    out = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInput(f"{what} must be positive integers, not {value!r}")
        out.append(value)
    return out
