"""Label Studio JSON (the "JSON" export of Label Studio): a list of tasks, each with its
``data`` and ``annotations[].result`` regions.

Regions use Label Studio's conventions: coordinates in percent of the image
(``original_width``/``original_height`` given), ``from_name="label"``, ``to_name`` ``image``
or ``text``; region types ``choices``, ``rectanglelabels``, ``polygonlabels``,
``keypointlabels`` (one region per keypoint, grouped by ``parentID``) and ``labels`` (text
spans). Export then import gives back the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stackml.errors import InvalidInput
from stackml.labeling.formats import ExportItem, ImportItem, inside
from stackml.store.labeling_entities import LabelConfig


def _pct(v: float, size: int) -> float:
    return 100.0 * v / size if size else 0.0


def _px(v: float, size: int) -> float:
    return v * size / 100.0


def regions(
    config: LabelConfig, value: Mapping[str, Any], width: int, height: int, text: str = ""
) -> list[dict[str, Any]]:
    """Label Studio result regions of one value."""
    kind = config.task_type
    if kind == "masks":  # Label Studio's brush RLE is not COCO's
        raise InvalidInput("Label Studio export does not cover masks; export COCO instead")
    to = "text" if kind.startswith("text") else "image"
    base: dict[str, Any] = {"from_name": "label", "to_name": to}
    if to == "image":
        base.update(original_width=width, original_height=height, image_rotation=0)
    out: list[dict[str, Any]] = []
    if kind in ("image_classification", "text_classification"):
        out.append({**base, "type": "choices", "value": {"choices": [value["class"]]}})
    elif kind == "image_multilabel":
        out.append({**base, "type": "choices", "value": {"choices": list(value["classes"])}})
    elif kind == "bboxes":
        for i, b in enumerate(value["boxes"]):
            out.append(
                {
                    **base,
                    "id": f"b{i}",
                    "type": "rectanglelabels",
                    "value": {
                        "x": _pct(b["x"], width),
                        "y": _pct(b["y"], height),
                        "width": _pct(b["w"], width),
                        "height": _pct(b["h"], height),
                        "rotation": 0,
                        "rectanglelabels": [b["class"]],
                    },
                }
            )
    elif kind == "polygons":
        for i, p in enumerate(value["polygons"]):
            pts = [[_pct(x, width), _pct(y, height)] for x, y in p["points"]]
            out.append(
                {
                    **base,
                    "id": f"p{i}",
                    "type": "polygonlabels",
                    "value": {"points": pts, "polygonlabels": [p["class"]]},
                }
            )
    elif kind == "keypoints":
        for i, inst in enumerate(value["instances"]):
            for name, (x, y, v) in zip(config.keypoints, inst["points"], strict=True):
                if v == 0:
                    continue
                out.append(
                    {
                        **base,
                        "id": f"k{i}-{name}",
                        "parentID": f"inst{i}",
                        "type": "keypointlabels",
                        "meta": {"class": inst["class"], "visibility": v},
                        "value": {
                            "x": _pct(x, width),
                            "y": _pct(y, height),
                            "width": 0.5,
                            "keypointlabels": [name],
                        },
                    }
                )
    elif kind == "text_spans":
        for s in value["spans"]:
            out.append(
                {
                    **base,
                    "type": "labels",
                    "value": {
                        "start": s["start"],
                        "end": s["end"],
                        "text": text[s["start"] : s["end"]],
                        "labels": [s["class"]],
                    },
                }
            )
    return out


def value_of(config: LabelConfig, result: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The stackml value of Label Studio result regions."""
    kind = config.task_type
    try:
        if kind in ("image_classification", "text_classification"):
            choice = next(r for r in result if r["type"] == "choices")
            return {"class": choice["value"]["choices"][0]}
        if kind == "image_multilabel":
            chosen = [c for r in result if r["type"] == "choices" for c in r["value"]["choices"]]
            return {"classes": chosen}
        if kind == "bboxes":
            boxes = []
            for r in result:
                if r["type"] == "rectanglelabels":
                    v, w, h = r["value"], r["original_width"], r["original_height"]
                    boxes.append(
                        {
                            "class": v["rectanglelabels"][0],
                            "x": _px(v["x"], w),
                            "y": _px(v["y"], h),
                            "w": _px(v["width"], w),
                            "h": _px(v["height"], h),
                        }
                    )
            return {"boxes": boxes}
        if kind == "polygons":
            polys = []
            for r in result:
                if r["type"] == "polygonlabels":
                    w, h = r["original_width"], r["original_height"]
                    pts = [[_px(x, w), _px(y, h)] for x, y in r["value"]["points"]]
                    polys.append({"class": r["value"]["polygonlabels"][0], "points": pts})
            return {"polygons": polys}
        if kind == "keypoints":
            groups: dict[str, dict[str, Any]] = {}
            for r in result:
                if r["type"] != "keypointlabels":
                    continue
                g = groups.setdefault(r.get("parentID") or "inst", {"class": None, "points": {}})
                meta = r.get("meta") or {}
                g["class"] = meta.get("class") or g["class"] or config.class_names()[0]
                w, h = r["original_width"], r["original_height"]
                name = r["value"]["keypointlabels"][0]
                g["points"][name] = [
                    _px(r["value"]["x"], w),
                    _px(r["value"]["y"], h),
                    int(meta.get("visibility", 2)),
                ]
            instances = [
                {
                    "class": g["class"],
                    "points": [g["points"].get(n, [0.0, 0.0, 0]) for n in config.keypoints],
                }
                for g in groups.values()
            ]
            return {"instances": instances}
        if kind == "text_spans":
            spans = [
                {
                    "class": r["value"]["labels"][0],
                    "start": int(r["value"]["start"]),
                    "end": int(r["value"]["end"]),
                }
                for r in result
                if r["type"] == "labels"
            ]
            return {"spans": spans}
    except (KeyError, IndexError, StopIteration, TypeError, ValueError) as error:
        raise InvalidInput(f"malformed Label Studio result: {error!r}") from error
    raise InvalidInput(f"unknown task type {kind!r}")


def export_labelstudio(config: LabelConfig, items: Sequence[ExportItem]) -> list[dict[str, Any]]:
    """Label Studio tasks with one annotation each (the consensus, with provenance)."""
    out = []
    for item in items:
        text = str(item.task.data.get("text", ""))
        data: dict[str, Any] = (
            {"text": text} if config.task_type.startswith("text") else {"image": item.file_name}
        )
        out.append(
            {
                "id": item.task.id,
                "data": data,
                "meta": {
                    "key": item.task.key,
                    "origin": item.origin,
                    "weight": item.weight,
                    "support": item.support,
                    "annotators": list(item.annotators),
                },
                "annotations": [
                    {
                        "result": regions(config, item.value, item.width, item.height, text),
                        "completed_by": ",".join(item.annotators) or item.origin,
                        "was_cancelled": False,
                    }
                ],
            }
        )
    return out


def import_labelstudio(
    config: LabelConfig, path: Path, images_dir: Path | None
) -> list[ImportItem]:
    """Items of a Label Studio JSON export: data, the image file, and the first annotation."""
    try:
        tasks = json.loads(Path(path).read_text())
    except ValueError as error:
        raise InvalidInput(f"{path} is not JSON: {error}") from error
    if not isinstance(tasks, list):
        raise InvalidInput("a Label Studio export is a JSON list of tasks")
    root = images_dir or Path(path).parent
    out = []
    for i, task in enumerate(tasks):
        if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
            raise InvalidInput(f"task {i} of {path} has no 'data'")
        data = dict(task["data"])
        image_path = None
        if not config.task_type.startswith("text"):
            ref = str(data.pop("image", ""))
            image_path = inside(root, ref.split("?d=")[-1].lstrip("/"))
            data["path"] = ref
        anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        value = value_of(config, anns[0]["result"]) if anns else None
        annotator = str(anns[0].get("completed_by")) if anns else None
        key = str((task.get("meta") or {}).get("key") or data.get("path") or task.get("id", i))
        out.append(
            ImportItem(key=key, data=data, image_path=image_path, value=value, annotator=annotator)
        )
    return out
