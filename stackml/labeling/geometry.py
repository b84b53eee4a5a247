"""Overlap of shapes: IoU of boxes, polygons and masks, and matching two annotators' shapes.

Polygon IoU is measured on a raster (Pillow draws both polygons on a common grid), which is
exact to a pixel at the image's resolution and needs no geometry library. Mask IoU compares
the two run-length encodings pixel by pixel (:func:`stackml.labeling.masks.mask_iou`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Box = Mapping[str, Any]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``{x, y, w, h}`` boxes."""
    ax1, ay1 = a["x"] + a["w"], a["y"] + a["h"]
    bx1, by1 = b["x"] + b["w"], b["y"] + b["h"]
    iw = max(0.0, min(ax1, bx1) - max(a["x"], b["x"]))
    ih = max(0.0, min(ay1, by1) - max(a["y"], b["y"]))
    inter = iw * ih
    union = a["w"] * a["h"] + b["w"] * b["h"] - inter
    return float(inter / union) if union > 0 else 0.0


def polygon_iou(
    a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], scale: float = 4.0
) -> float:
    """IoU of two polygons (lists of ``[x, y]``), rasterised at ``scale`` pixels per unit."""
    from PIL import Image, ImageDraw

    pts = np.asarray([*a, *b], dtype=float)[:, :2]
    lo = pts.min(axis=0)
    size = np.ceil((pts.max(axis=0) - lo) * scale).astype(int) + 2
    if size.prod() > 16_000_000:  # keep the raster bounded for huge coordinates
        scale *= float(np.sqrt(16_000_000 / size.prod()))
        size = np.ceil((pts.max(axis=0) - lo) * scale).astype(int) + 2

    def mask(poly: Sequence[Sequence[float]]) -> np.ndarray:
        image = Image.new("1", (int(size[0]), int(size[1])), 0)
        shifted = [((p[0] - lo[0]) * scale + 1, (p[1] - lo[1]) * scale + 1) for p in poly]
        ImageDraw.Draw(image).polygon(shifted, fill=1)
        return np.asarray(image, dtype=bool)

    ma, mb = mask(a), mask(b)
    union = np.logical_or(ma, mb).sum()
    return float(np.logical_and(ma, mb).sum() / union) if union else 0.0


def shape_iou(kind: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """IoU of two shapes of a task type (``bboxes``, ``polygons`` or ``masks``); 0 across
    classes."""
    if a.get("class") != b.get("class"):
        return 0.0
    if kind == "bboxes":
        return box_iou(a, b)
    if kind == "masks":
        from stackml.labeling.masks import mask_iou

        return mask_iou(a["rle"], b["rle"])
    return polygon_iou(a["points"], b["points"])


SHAPE_KEYS = {"bboxes": "boxes", "polygons": "polygons", "masks": "masks"}


def shapes_of(kind: str, value: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The shapes of an annotation value."""
    return list(value.get(SHAPE_KEYS.get(kind, "polygons"), []))


def match(
    kind: str,
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    threshold: float = 0.0,
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching of shapes by IoU (highest first), pairs above ``threshold``."""
    pairs = [(shape_iou(kind, sa, sb), i, j) for i, sa in enumerate(a) for j, sb in enumerate(b)]
    pairs.sort(reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for iou, i, j in pairs:
        if iou <= threshold or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        out.append((i, j, iou))
    return out


def shape_agreement(
    kind: str, a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]
) -> float:
    """Agreement of two annotators' shapes on one item, 0..1.

    The sum of matched IoUs over the number of shapes either drew (unmatched shapes count as
    zero); two empty answers agree fully.
    """
    if not a and not b:
        return 1.0
    matched = match(kind, a, b)
    return sum(iou for _, _, iou in matched) / (len(a) + len(b) - len(matched))
