"""YOLO txt: ``classes.txt`` and one ``labels/<image stem>.txt`` per image.

Boxes are ``class cx cy w h`` lines normalised to 0..1; polygons are YOLO segmentation lines
``class x1 y1 x2 y2 ...`` (normalised). Images without shapes get an empty file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stackml.errors import InvalidInput
from stackml.labeling.formats import ExportItem, ImportItem, inside
from stackml.store.labeling_entities import LabelConfig

SUPPORTED = ("bboxes", "polygons")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def export_yolo(config: LabelConfig, items: Sequence[ExportItem]) -> dict[str, str]:
    """Files (relative path -> text) of a YOLO export."""
    if config.task_type not in SUPPORTED:
        raise InvalidInput(f"YOLO export covers {SUPPORTED}")
    index = {name: i for i, name in enumerate(config.class_names())}
    files = {"classes.txt": "\n".join(config.class_names()) + "\n"}
    for item in items:
        w, h = item.width or 1, item.height or 1
        lines = []
        if config.task_type == "bboxes":
            for b in item.value.get("boxes", []):
                cx, cy = (b["x"] + b["w"] / 2) / w, (b["y"] + b["h"] / 2) / h
                lines.append(
                    f"{index[b['class']]} {cx:.6f} {cy:.6f} {b['w'] / w:.6f} {b['h'] / h:.6f}"
                )
        else:
            for p in item.value.get("polygons", []):
                coords = " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in p["points"])
                lines.append(f"{index[p['class']]} {coords}")
        stem = Path(item.file_name or f"task-{item.task.id}").stem
        files[f"labels/{stem}.txt"] = "\n".join(lines) + ("\n" if lines else "")
    return files


def import_yolo(config: LabelConfig, folder: Path, images_dir: Path | None) -> list[ImportItem]:
    """Items of a YOLO folder (``classes.txt``, ``labels/``, images in ``images/`` or
    ``images_dir``); image sizes come from decoding the images."""
    from PIL import Image

    if config.task_type not in SUPPORTED:
        raise InvalidInput(f"YOLO import covers {SUPPORTED}")
    folder = Path(folder)
    classes_file = folder / "classes.txt"
    if not classes_file.is_file():
        raise InvalidInput(f"{folder} has no classes.txt")
    names = [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
    root = images_dir or folder / "images"
    out = []
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        rel = image.relative_to(root).as_posix()
        inside(root, rel)
        with Image.open(image) as opened:
            w, h = opened.size
        label_file = folder / "labels" / f"{image.stem}.txt"
        value = None
        if label_file.is_file():
            shapes = []
            for n, line in enumerate(label_file.read_text().splitlines()):
                parts = line.split()
                if not parts:
                    continue
                try:
                    cls = names[int(parts[0])]
                    nums = [float(v) for v in parts[1:]]
                except (ValueError, IndexError) as error:
                    raise InvalidInput(f"{label_file}:{n + 1}: malformed YOLO line") from error
                if config.task_type == "bboxes" and len(nums) == 4:
                    cx, cy, bw, bh = nums
                    shapes.append(
                        {
                            "class": cls,
                            "x": (cx - bw / 2) * w,
                            "y": (cy - bh / 2) * h,
                            "w": bw * w,
                            "h": bh * h,
                        }
                    )
                elif config.task_type == "polygons" and len(nums) >= 6 and len(nums) % 2 == 0:
                    pts = [[nums[i] * w, nums[i + 1] * h] for i in range(0, len(nums), 2)]
                    shapes.append({"class": cls, "points": pts})
                else:
                    raise InvalidInput(f"{label_file}:{n + 1}: wrong number of values")
            value = {"boxes" if config.task_type == "bboxes" else "polygons": shapes}
        out.append(ImportItem(key=rel, data={"path": rel}, image_path=image, value=value))
    return out
