"""Label formats: COCO JSON, Label Studio JSON, YOLO txt and CSV, both ways.

Exporters take :class:`ExportItem` rows (one per labeled task: its consensus value and
provenance) and write files into a folder; importers read files into :class:`ImportItem`
rows (the item and, when the file has one, its label). Coordinates are pixels inside the
library; each format's own convention (COCO ``[x, y, w, h]`` pixels, Label Studio percent,
YOLO normalised centres) is applied at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackml.store.labeling_entities import LabelTask

FORMATS = ("coco", "labelstudio", "yolo", "csv")


@dataclass(frozen=True)
class ExportItem:
    """One labeled task ready to write."""

    task: LabelTask
    value: Mapping[str, Any]
    file_name: str | None
    support: float = 1.0
    origin: str = "human"
    weight: float = 1.0
    annotators: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return int(self.task.data.get("width") or 0)

    @property
    def height(self) -> int:
        return int(self.task.data.get("height") or 0)


@dataclass(frozen=True)
class ImportItem:
    """One item read from a file: its data, its image file (if any) and its label (if any)."""

    key: str
    data: dict[str, Any] = field(default_factory=dict)
    image_path: Path | None = None
    value: dict[str, Any] | None = None
    annotator: str | None = None


def inside(root: Path, name: str) -> Path:
    """``root / name``, refusing names that would leave ``root`` (``..``, absolute paths)."""
    from stackml.errors import InvalidInput

    target = (root / name).resolve()
    if root.resolve() not in target.parents:
        raise InvalidInput(f"file name {name!r} points outside {root}")
    return target
