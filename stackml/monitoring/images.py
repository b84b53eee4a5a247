"""Routed images become PNG blobs a label project can show."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["image_item", "to_png"]


def to_png(image: np.ndarray, value_range: tuple[float, float] | None = None) -> bytes:
    """PNG bytes of a 2-D (or H x W x C) image, ``value_range`` (default: its own min..max)
    mapped to 0..255."""
    from PIL import Image

    arr = np.asarray(image, dtype=np.float64)
    arr = arr.squeeze()
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1).squeeze()
    lo, hi = value_range if value_range is not None else (float(arr.min()), float(arr.max()))
    arr = np.clip(arr, lo, hi)
    scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo) * 255.0
    buf = io.BytesIO()
    Image.fromarray(scaled.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def image_item(image: np.ndarray, value_range: tuple[float, float] | None = None) -> dict[str, Any]:
    """``{"image_bytes": <PNG>}``: the labeling API stores and decodes it."""
    return {"image_bytes": to_png(image, value_range)}
