"""COCO JSON: boxes, polygons (segmentations), masks (RLE segmentations) and keypoints.

Export writes ``images``, ``categories`` (with ``keypoints`` names for keypoint projects) and
``annotations`` with ``bbox``, ``area`` (the polygon's area for polygons, the pixel count for
masks, else the box's), ``segmentation`` (a polygon list, or for masks the compressed RLE
``{"size": [h, w], "counts": "..."}``), ``keypoints``/``num_keypoints`` and ``iscrowd: 0``;
provenance goes into each annotation's ``attributes`` (origin, weight, support,
annotators). It loads in ``pycocotools.coco.COCO`` (``annToMask`` decodes the masks).

Import into a masks project reads RLE segmentations (compressed or as a list of counts) and
draws polygon segmentations into masks of the image's size.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stackml.errors import InvalidInput
from stackml.labeling import masks
from stackml.labeling.formats import ExportItem, ImportItem, inside
from stackml.store.labeling_entities import LabelConfig

SUPPORTED = ("bboxes", "polygons", "masks", "keypoints")
_KEYS = {"bboxes": "boxes", "polygons": "polygons", "masks": "masks", "keypoints": "instances"}


def _polygon_area(points: Sequence[Sequence[float]]) -> float:
    s = 0.0
    for (x0, y0), (x1, y1) in zip(points, [*points[1:], points[0]], strict=True):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2


def _bbox_of(points: Sequence[Sequence[float]]) -> list[float]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def export_coco(config: LabelConfig, items: Sequence[ExportItem]) -> dict[str, Any]:
    """A COCO document of the items (boxes, polygons, masks or keypoints projects)."""
    if config.task_type not in SUPPORTED:
        raise InvalidInput(
            f"COCO export covers {SUPPORTED}; use CSV or Label Studio for {config.task_type}"
        )
    cat_ids = {name: i + 1 for i, name in enumerate(config.class_names())}
    categories = []
    for name, cid in cat_ids.items():
        cat: dict[str, Any] = {"id": cid, "name": name, "supercategory": "object"}
        if config.task_type == "keypoints":
            cat["keypoints"] = list(config.keypoints)
            cat["skeleton"] = []
        categories.append(cat)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for item in items:
        images.append(
            {
                "id": item.task.id,
                "file_name": item.file_name,
                "width": item.width,
                "height": item.height,
            }
        )
        attributes = {
            "origin": item.origin,
            "weight": item.weight,
            "support": item.support,
            "annotators": list(item.annotators),
        }
        for shape in _shapes(config, item.value):
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": item.task.id,
                "category_id": cat_ids[shape["class"]],
                "iscrowd": 0,
                "attributes": attributes,
            }
            if config.task_type == "bboxes":
                bbox = [shape["x"], shape["y"], shape["w"], shape["h"]]
                ann.update(bbox=bbox, area=shape["w"] * shape["h"], segmentation=[])
            elif config.task_type == "polygons":
                points = shape["points"]
                ann.update(
                    bbox=_bbox_of(points),
                    area=_polygon_area(points),
                    segmentation=[[c for p in points for c in p[:2]]],
                )
            elif config.task_type == "masks":
                rle = shape["rle"]
                ann.update(bbox=masks.rle_bbox(rle), area=masks.area(rle), segmentation=dict(rle))
            else:
                points = shape["points"]
                seen = [p for p in points if p[2] > 0]
                bbox = _bbox_of(seen) if seen else [0.0, 0.0, 0.0, 0.0]
                ann.update(
                    keypoints=[c for p in points for c in (p[0], p[1], int(p[2]))],
                    num_keypoints=len(seen),
                    bbox=bbox,
                    area=bbox[2] * bbox[3],
                    segmentation=[],
                )
            annotations.append(ann)
    return {
        "info": {"description": "exported by stackml", "version": "1.0"},
        "licenses": [],
        "images": images,
        "categories": categories,
        "annotations": annotations,
    }


def _shapes(config: LabelConfig, value: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(value.get(_KEYS[config.task_type], []))


def _mask_shapes(ann: Mapping[str, Any], name: str, size: tuple[int, int]) -> list[dict]:
    """The masks of one COCO annotation: its RLE, or its polygons drawn at the image's size."""
    seg = ann.get("segmentation")
    if isinstance(seg, Mapping):
        rle = {"size": seg.get("size"), "counts": seg.get("counts")}
        return [{"class": name, "rle": rle}]
    h, w = size
    out = []
    for poly in seg or []:
        pts = [[float(poly[i]), float(poly[i + 1])] for i in range(0, len(poly) - 1, 2)]
        out.append({"class": name, "rle": masks.polygon_to_rle(pts, h, w)})
    return out


def import_coco(config: LabelConfig, path: Path, images_dir: Path | None) -> list[ImportItem]:
    """Items of a COCO file: one per image, with its annotations as the label."""
    if config.task_type not in SUPPORTED:
        raise InvalidInput(f"COCO import covers {SUPPORTED}")
    try:
        doc = json.loads(Path(path).read_text())
        cats = {c["id"]: c["name"] for c in doc["categories"]}
        images = doc["images"]
        anns = doc.get("annotations", [])
        sizes = {i.get("id"): (int(i.get("height", 0)), int(i.get("width", 0))) for i in images}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(f"{path} is not a COCO file: {error}") from error
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in anns:
        name = cats.get(ann.get("category_id"))
        if name is None:
            raise InvalidInput(f"annotation {ann.get('id')} names an unknown category")
        if config.task_type == "bboxes":
            x, y, w, h = (float(v) for v in ann["bbox"])
            by_image[ann["image_id"]].append({"class": name, "x": x, "y": y, "w": w, "h": h})
        elif config.task_type == "polygons":
            for seg in ann.get("segmentation") or []:
                pts = [[float(seg[i]), float(seg[i + 1])] for i in range(0, len(seg) - 1, 2)]
                by_image[ann["image_id"]].append({"class": name, "points": pts})
        elif config.task_type == "masks":
            size = sizes.get(ann["image_id"], (0, 0))
            by_image[ann["image_id"]].extend(_mask_shapes(ann, name, size))
        else:
            kp = ann.get("keypoints") or []
            pts = [
                [float(kp[i]), float(kp[i + 1]), int(kp[i + 2])] for i in range(0, len(kp) - 2, 3)
            ]
            by_image[ann["image_id"]].append({"class": name, "points": pts})
    key = _KEYS[config.task_type]
    root = images_dir or Path(path).parent
    out = []
    for image in images:
        file_name = str(image["file_name"])
        out.append(
            ImportItem(
                key=file_name,
                data={"path": file_name},
                image_path=inside(root, file_name),
                value={key: by_image.get(image["id"], [])} if image["id"] in by_image else None,
            )
        )
    return out
