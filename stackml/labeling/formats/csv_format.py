"""CSV: one row per item.

Export columns: ``task_id, key, path`` (images) or ``text``, ``label`` (the class for
classification projects, otherwise the value as JSON), ``support, origin, weight,
annotators``. Import reads a ``path`` (image, relative to ``images_dir``) or ``text`` column,
and optionally ``label`` (a class, or a JSON value).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackml.errors import InvalidInput
from stackml.labeling.formats import ExportItem, ImportItem, inside
from stackml.store.labeling_entities import LabelConfig

CLASS_TYPES = ("image_classification", "text_classification")


def label_text(config: LabelConfig, value: Any) -> str:
    """The ``label`` cell of a value."""
    if config.task_type in CLASS_TYPES:
        return str(value["class"])
    return json.dumps(value, separators=(",", ":"))


def rows(config: LabelConfig, items: Sequence[ExportItem]) -> list[dict[str, Any]]:
    """Export rows (also the table of an exported dataset version)."""
    text = config.task_type.startswith("text")
    out = []
    for item in items:
        row: dict[str, Any] = {"task_id": item.task.id, "key": item.task.key or ""}
        if text:
            row["text"] = str(item.task.data.get("text", ""))
        else:
            row["path"] = item.file_name
        row.update(
            label=label_text(config, item.value),
            support=float(item.support),
            origin=item.origin,
            weight=float(item.weight),
            annotators=",".join(item.annotators),
        )
        out.append(row)
    return out


def export_csv(config: LabelConfig, items: Sequence[ExportItem]) -> str:
    """The CSV text of the items."""
    table = rows(config, items)
    buffer = io.StringIO()
    if table:
        writer = csv.DictWriter(buffer, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    return buffer.getvalue()


def import_csv(config: LabelConfig, path: Path, images_dir: Path | None) -> list[ImportItem]:
    """Items of a CSV file."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        records = list(reader)
    text = config.task_type.startswith("text")
    column = "text" if text else "path"
    root = images_dir or Path(path).parent
    out = []
    for i, r in enumerate(records):
        if column not in r:
            raise InvalidInput(f"{path} needs a {column!r} column")
        label = (r.get("label") or "").strip()
        value = None
        if label:
            if config.task_type in CLASS_TYPES:
                value = {"class": label}
            else:
                try:
                    value = json.loads(label)
                except ValueError as error:
                    raise InvalidInput(f"{path} row {i + 1}: label is not JSON") from error
        extra = {k: v for k, v in r.items() if k not in ("label", "path", "text", "task_id") and v}
        if text:
            out.append(
                ImportItem(
                    key=r.get("key") or str(i), data={"text": r["text"], **extra}, value=value
                )
            )
        else:
            out.append(
                ImportItem(
                    key=r.get("key") or r["path"],
                    data={"path": r["path"], **extra},
                    image_path=inside(root, r["path"]),
                    value=value,
                )
            )
    return out
