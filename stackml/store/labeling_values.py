"""Annotation values: their JSON shape per task type, validated and clamped before storing.

=====================  =========================================================================
task type              value
=====================  =========================================================================
image_classification   ``{"class": "cat"}``
text_classification    ``{"class": "spam"}``
image_multilabel       ``{"classes": ["cat", "outdoor"]}``
bboxes                 ``{"boxes": [{"class": "cat", "x": 1, "y": 2, "w": 30, "h": 20}]}``
polygons               ``{"polygons": [{"class": "road", "points": [[x, y], ...]}]}``
keypoints              ``{"instances": [{"class": "fish", "points": [[x, y, v], ...]}]}``
                       (one point per keypoint name; ``v`` 0 = not labeled, 1 = hidden, 2 = seen)
masks                  ``{"masks": [{"class": "road", "rle": {"size": [h, w], "counts": "..."}}]}``
                       (COCO run-length encoding, see :mod:`stackml.store.labeling_masks`)
text_spans             ``{"spans": [{"class": "PER", "start": 0, "end": 5}]}``
=====================  =========================================================================

A mask must have the image's size (when the task's data gives it) and cover at least one
pixel; run lengths given as a list are stored in COCO's compressed string form.
Coordinates are pixels of the original image. A shape reaching outside the image is clamped
to its bounds; a shape entirely outside, or empty once clamped, is refused with
``InvalidInput`` — a stored label is never broken. Spans must lie inside the text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from stackml.errors import InvalidInput
from stackml.store.labeling_entities import LabelConfig
from stackml.store.labeling_masks import check_rle

MAX_VALUE_BYTES = 1 << 20
MAX_SHAPES = 2000
MAX_POINTS = 1000


def _num(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, not {value!r}")
    return float(value)


def _class(item: Mapping[str, Any], names: set[str]) -> str:
    name = item.get("class")
    if name not in names:
        raise InvalidInput(f"unknown class {name!r}: the project has {sorted(names)}")
    return str(name)


def _bounds(data: Mapping[str, Any]) -> tuple[float, float] | None:
    width, height = data.get("width"), data.get("height")
    numbers = isinstance(width, (int, float)) and isinstance(height, (int, float))
    if numbers and width > 0 and height > 0:  # type: ignore[operator]
        return float(width), float(height)  # type: ignore[arg-type]
    return None


def _clamp(v: float, hi: float | None) -> float:
    if hi is None:
        return max(v, 0.0)
    return min(max(v, 0.0), hi)


def _list(value: Any, key: str) -> list[Any]:
    items = value.get(key)
    if not isinstance(items, list):
        raise InvalidInput(f"the value needs a list {key!r}")
    if len(items) > MAX_SHAPES:
        raise InvalidInput(f"at most {MAX_SHAPES} items in {key!r}")
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInput(f"every item of {key!r} must be a mapping")
    return items


def _box(item: Mapping[str, Any], names: set[str], bounds: tuple[float, float] | None) -> dict:
    cls = _class(item, names)
    x, y = _num(item.get("x"), "x"), _num(item.get("y"), "y")
    w, h = _num(item.get("w"), "w"), _num(item.get("h"), "h")
    if w < 0:
        x, w = x + w, -w
    if h < 0:
        y, h = y + h, -h
    W, H = bounds if bounds else (None, None)
    x0, y0 = _clamp(x, W), _clamp(y, H)
    x1, y1 = _clamp(x + w, W), _clamp(y + h, H)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        raise InvalidInput(f"box {dict(item)!r} lies outside the image or is empty")
    return {"class": cls, "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


def _points(raw: Any, dims: int, bounds: tuple[float, float] | None) -> list[list[float]]:
    if not isinstance(raw, list) or len(raw) > MAX_POINTS:
        raise InvalidInput(f"points must be a list of at most {MAX_POINTS} [x, y] pairs")
    W, H = bounds if bounds else (None, None)
    out = []
    for p in raw:
        if not isinstance(p, (list, tuple)) or len(p) not in (2, dims):
            raise InvalidInput(f"a point must be [x, y]{' or [x, y, v]' if dims == 3 else ''}")
        x, y = _num(p[0], "x"), _num(p[1], "y")
        point = [_clamp(x, W), _clamp(y, H)]
        if dims == 3:
            v = p[2] if len(p) == 3 else 2
            if v not in (0, 1, 2):
                raise InvalidInput("keypoint visibility must be 0, 1 or 2")
            point.append(int(v))
        out.append(point)
    return out


def _area(points: list[list[float]]) -> float:
    s = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=False):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2


def check_value(config: LabelConfig, data: Mapping[str, Any], value: object) -> dict[str, Any]:
    """The value, validated against the project's config and the task's data, clamped.

    Raises:
        InvalidInput: for a malformed value, an unknown class, a shape outside the image or
            a span outside the text.
    """
    if not isinstance(value, Mapping):
        raise InvalidInput("an annotation value must be a mapping")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"an annotation value must be plain JSON: {error}") from error
    if size > MAX_VALUE_BYTES:
        raise InvalidInput(f"an annotation value is limited to {MAX_VALUE_BYTES} bytes")
    names = set(config.class_names())
    bounds = _bounds(data)
    kind = config.task_type
    if kind in ("image_classification", "text_classification"):
        return {"class": _class(value, names)}
    if kind == "image_multilabel":
        chosen = value.get("classes")
        if not isinstance(chosen, list):
            raise InvalidInput("a multi-label value needs a list 'classes'")
        for name in chosen:
            _class({"class": name}, names)
        return {"classes": sorted(set(chosen), key=config.class_names().index)}
    if kind == "bboxes":
        return {"boxes": [_box(b, names, bounds) for b in _list(value, "boxes")]}
    if kind == "polygons":
        polygons = []
        for item in _list(value, "polygons"):
            points = _points(item.get("points"), 2, bounds)
            if len(points) < 3 or _area(points) <= 0:
                raise InvalidInput("a polygon needs at least 3 points enclosing an area")
            polygons.append({"class": _class(item, names), "points": points})
        return {"polygons": polygons}
    if kind == "keypoints":
        instances = []
        for item in _list(value, "instances"):
            points = _points(item.get("points"), 3, bounds)
            if len(points) != len(config.keypoints):
                raise InvalidInput(
                    f"an instance needs {len(config.keypoints)} points ({list(config.keypoints)})"
                )
            instances.append({"class": _class(item, names), "points": points})
        return {"instances": instances}
    if kind == "masks":
        masks = [
            {"class": _class(item, names), "rle": check_rle(item.get("rle"), bounds)}
            for item in _list(value, "masks")
        ]
        return {"masks": masks}
    if kind == "text_spans":
        text = data.get("text")
        length = len(text) if isinstance(text, str) else 0
        spans = []
        for item in _list(value, "spans"):
            start, end = item.get("start"), item.get("end")
            if (
                isinstance(start, bool)
                or isinstance(end, bool)
                or not isinstance(start, int)
                or not isinstance(end, int)
                or not 0 <= start < end <= length
            ):
                raise InvalidInput(f"span [{start!r}, {end!r}) lies outside the text (0..{length})")
            spans.append({"class": _class(item, names), "start": start, "end": end})
        spans.sort(key=lambda s: (s["start"], s["end"]))
        return {"spans": spans}
    raise InvalidInput(f"unknown task type {kind!r}")  # pragma: no cover - config is checked


def _flat_size(data: Mapping[str, Any]) -> int | None:
    """An upper bound of the JSON size of a flat mapping of plain values, or ``None``.

    Bulk imports check every task's data; encoding each one just to measure it costs more
    than storing it, so flat records of strings, numbers and booleans are measured here.
    """
    size = 2
    for key, value in data.items():
        if type(key) is not str:
            return None
        kind = type(value)
        if kind is str:
            size += 6 * len(value) + 2  # every character escaped at worst
        elif kind is int or kind is bool or value is None:
            size += 24
        elif kind is float:
            if not math.isfinite(value):
                raise InvalidInput("task data must be plain JSON (no NaN or infinity)")
            size += 24
        else:
            return None
        size += 6 * len(key) + 4
    return size


# Compact, strict JSON, the same text the database column stores.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def encode_data(config: LabelConfig, data: object) -> tuple[dict[str, Any], str]:
    """A task's data checked as :func:`check_data` does, with its JSON text.

    Bulk imports store the text as it is: one encoding per task both measures it and
    writes it.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("task data must be a mapping")
    plain = data if type(data) is dict else dict(data)
    try:
        text = _ENCODER.encode(plain)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"task data must be plain JSON: {error}") from error
    if len(text) > MAX_VALUE_BYTES:
        raise InvalidInput(f"task data is limited to {MAX_VALUE_BYTES} bytes")
    field = "text" if config.task_type.startswith("text") else "image"
    if not isinstance(plain.get(field), str):
        if field == "text":
            raise InvalidInput("a text task needs data['text']")
        raise InvalidInput("an image task needs data['image'] (a blob hash)")
    return dict(plain), text


def check_data(config: LabelConfig, data: object) -> dict[str, Any]:
    """A task's data: a JSON mapping; image tasks need ``image``, text tasks ``text``."""
    if not isinstance(data, Mapping):
        raise InvalidInput("task data must be a mapping")
    size = _flat_size(data)
    if size is None:  # nested or unusual values: let the encoder check them
        try:
            size = len(json.dumps(data, allow_nan=False))
        except (TypeError, ValueError) as error:
            raise InvalidInput(f"task data must be plain JSON: {error}") from error
    if size > MAX_VALUE_BYTES:
        raise InvalidInput(f"task data is limited to {MAX_VALUE_BYTES} bytes")
    if config.task_type.startswith("text"):
        if not isinstance(data.get("text"), str):
            raise InvalidInput("a text task needs data['text']")
    elif not isinstance(data.get("image"), str):
        raise InvalidInput("an image task needs data['image'] (a blob hash)")
    return dict(data)
