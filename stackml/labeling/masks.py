"""Segmentation masks: between NumPy arrays and COCO run-length encodings, their IoU and box.

Values of ``masks`` projects hold ``{"class": ..., "rle": {"size": [h, w], "counts": str}}``
(see :mod:`stackml.store.labeling_masks` for the encoding, which is COCO's). These helpers
turn a model's boolean mask into that form and back::

    from stackml.labeling.masks import mask_to_rle
    value = {"masks": [{"class": "road", "rle": mask_to_rle(prediction > 0.5)}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.store.labeling_masks import encode_counts, mask_area, rle_counts

__all__ = [
    "area",
    "mask_area",
    "mask_iou",
    "mask_to_rle",
    "polygon_to_rle",
    "rle_bbox",
    "rle_to_mask",
]


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """The compressed COCO RLE of a 2-D mask (nonzero pixels are set)."""
    array = np.asarray(mask)
    if array.ndim != 2 or array.size == 0:
        raise InvalidInput("a mask is a non-empty 2-D array (height x width)")
    flat = array.astype(bool).ravel(order="F")
    # Run boundaries: where a pixel differs from the one before, plus both ends.
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)  # counts start with a run of 0s
    h, w = array.shape
    return {"size": [int(h), int(w)], "counts": encode_counts(runs)}


def _flat(rle: Mapping[str, Any]) -> tuple[np.ndarray, int, int]:
    h, w = (int(v) for v in rle["size"])
    counts = rle_counts(rle)
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    if flat.size != h * w:
        raise InvalidInput(f"a mask's runs must cover its {h}x{w} pixels exactly")
    return flat, h, w


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """The boolean ``(height, width)`` array of an RLE (string or list counts)."""
    flat, h, w = _flat(rle)
    return flat.reshape((h, w), order="F")


def mask_iou(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Intersection over union of two RLE masks of one image (0 when sizes differ)."""
    if list(a["size"]) != list(b["size"]):
        return 0.0
    fa, _, _ = _flat(a)
    fb, _, _ = _flat(b)
    union = int(np.count_nonzero(fa | fb))
    return float(np.count_nonzero(fa & fb) / union) if union else 0.0


def rle_bbox(rle: Mapping[str, Any]) -> list[float]:
    """``[x, y, w, h]`` of the pixels a mask covers (zeros for an empty mask), as COCO's."""
    mask = rle_to_mask(rle)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = float(cols[0]), float(rows[0])
    return [x0, y0, float(cols[-1] + 1 - x0), float(rows[-1] + 1 - y0)]


def polygon_to_rle(points: Sequence[Sequence[float]], height: int, width: int) -> dict[str, Any]:
    """The mask of a polygon (``[[x, y], ...]`` in pixels) drawn on a ``height x width`` image."""
    from PIL import Image, ImageDraw

    image = Image.new("1", (int(width), int(height)), 0)
    ImageDraw.Draw(image).polygon([(float(p[0]), float(p[1])) for p in points], fill=1)
    return mask_to_rle(np.asarray(image, dtype=bool))


def area(rle: Mapping[str, Any]) -> int:
    """Pixels a mask covers."""
    return mask_area(rle_counts(rle))
