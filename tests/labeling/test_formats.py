"""COCO, Label Studio, YOLO and CSV: exports that other tools load, and round trips."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import stackml.labeling as sl
from stackml.errors import InvalidInput
from stackml.store import Store, open_store
from tests.labeling.support import png

BOXES = [
    [{"class": "cat", "x": 2.0, "y": 3.0, "w": 20.0, "h": 10.0}],
    [
        {"class": "dog", "x": 0.0, "y": 0.0, "w": 64.0, "h": 48.0},
        {"class": "cat", "x": 10.5, "y": 4.25, "w": 5.5, "h": 7.0},
    ],
    [],
]
POLYGON = [[4.0, 4.0], [30.0, 4.0], [30.0, 20.0], [4.0, 20.0]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "store"))
    yield opened
    opened.close()


def _project(
    store: Store, name: str, task_type: str, values: list[dict], **kw: object
) -> list[int]:
    sl.create_project(name, task_type, ["cat", "dog"], store=store, **kw)  # type: ignore[arg-type]
    if task_type.startswith("text"):
        items = [{"text": f"Ada met Bob at ACME {i}", "key": f"t{i}"} for i in range(len(values))]
    else:
        items = [{"image_bytes": png(seed=i), "key": f"i{i}.png"} for i in range(len(values))]
    ids = sl.add_tasks(name, items, store=store)
    for tid, value in zip(ids, values, strict=True):
        store.metadata.submit_annotation(tid, "ada", value)
    return ids


def test_coco_export_loads_in_pycocotools_with_right_boxes_and_areas(
    store: Store, tmp_path: Path
) -> None:
    from pycocotools.coco import COCO

    ids = _project(store, "boxes", "bboxes", [{"boxes": b} for b in BOXES])
    files = sl.export_files("boxes", tmp_path / "out", formats=("coco",), store=store)
    assert files == ["annotations.coco.json"]
    coco = COCO(str(tmp_path / "out" / "annotations.coco.json"))
    assert sorted(coco.getImgIds()) == ids
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == {"cat", "dog"}
    for tid, boxes in zip(ids, BOXES, strict=True):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[tid]))
        got = sorted(
            (coco.loadCats(a["category_id"])[0]["name"], *a["bbox"], a["area"]) for a in anns
        )
        want = sorted((b["class"], b["x"], b["y"], b["w"], b["h"], b["w"] * b["h"]) for b in boxes)
        assert got == want
        image = coco.loadImgs(tid)[0]
        assert (image["width"], image["height"]) == (64, 48)
        assert (tmp_path / "out" / image["file_name"]).is_file()


def test_coco_polygons_and_keypoints(store: Store, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    _project(store, "polys", "polygons", [{"polygons": [{"class": "cat", "points": POLYGON}]}])
    sl.export_files("polys", tmp_path / "p", formats=("coco",), store=store)
    coco = COCO(str(tmp_path / "p" / "annotations.coco.json"))
    (a,) = coco.loadAnns(coco.getAnnIds())
    assert a["area"] == pytest.approx(26 * 16) and a["bbox"] == [4.0, 4.0, 26.0, 16.0]
    with warnings.catch_warnings():  # pycocotools' mask decoder predates NumPy 2's copy keyword
        warnings.simplefilter("ignore", DeprecationWarning)
        mask = coco.annToMask(a)
    assert mask.sum() == pytest.approx(26 * 16, rel=0.15)
    kp = {"instances": [{"class": "dog", "points": [[5, 5, 2], [9, 7, 1], [0, 0, 0]]}]}
    _project(store, "kp", "keypoints", [kp], keypoints=["head", "tail", "paw"])
    sl.export_files("kp", tmp_path / "k", formats=("coco",), store=store)
    doc = json.loads((tmp_path / "k" / "annotations.coco.json").read_text())
    assert doc["categories"][0]["keypoints"] == ["head", "tail", "paw"]
    (k,) = COCO(str(tmp_path / "k" / "annotations.coco.json")).loadAnns([1])
    assert k["keypoints"] == [5, 5, 2, 9, 7, 1, 0, 0, 0] and k["num_keypoints"] == 2


@pytest.mark.parametrize(
    ("task_type", "values", "options"),
    [
        ("bboxes", [{"boxes": b} for b in BOXES], {}),
        ("polygons", [{"polygons": [{"class": "dog", "points": POLYGON}]}], {}),
        (
            "keypoints",
            [{"instances": [{"class": "cat", "points": [[5.0, 5.0, 2], [9.0, 7.0, 1]]}]}],
            {"keypoints": ["a", "b"]},
        ),
        ("image_classification", [{"class": "dog"}, {"class": "cat"}], {}),
        ("image_multilabel", [{"classes": ["cat", "dog"]}], {}),
        ("text_classification", [{"class": "cat"}], {}),
        (
            "text_spans",
            [
                {
                    "spans": [
                        {"class": "cat", "start": 0, "end": 3},
                        {"class": "dog", "start": 8, "end": 11},
                    ]
                }
            ],
            {},
        ),
    ],
)
def test_label_studio_round_trip(
    store: Store, tmp_path: Path, task_type: str, values: list[dict], options: dict
) -> None:
    _project(store, "src", task_type, values, **options)
    sl.export_files("src", tmp_path / "ls", formats=("labelstudio",), store=store)
    sl.create_project("dst", task_type, ["cat", "dog"], store=store, **options)
    report = sl.import_file(
        "dst", tmp_path / "ls" / "labelstudio.json", "labelstudio", mode="annotations", store=store
    )
    assert report.tasks == len(values) and report.annotations == len(values)
    got = [a.value for a in sl.all_annotations(store, "dst")]

    def rounded(v: object) -> object:
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, dict):
            return {k: rounded(x) for k, x in v.items()}
        if isinstance(v, list):
            return [rounded(x) for x in v]
        return v

    assert rounded(got) == rounded(values)
    assert {a.user for a in sl.all_annotations(store, "dst")} == {"ada"}


def test_yolo_and_csv_round_trips(store: Store, tmp_path: Path) -> None:
    _project(store, "y", "bboxes", [{"boxes": b} for b in BOXES])
    sl.export_files("y", tmp_path / "y", formats=("yolo", "csv"), store=store)
    assert (tmp_path / "y" / "classes.txt").read_text() == "cat\ndog\n"
    sl.create_project("y2", "bboxes", ["cat", "dog"], store=store)
    sl.import_file(
        "y2",
        tmp_path / "y",
        "yolo",
        images_dir=tmp_path / "y" / "images",
        mode="annotations",
        store=store,
    )
    got = [a.value["boxes"] for a in sl.all_annotations(store, "y2")]
    for boxes, want in zip(got, BOXES, strict=True):
        assert [b["class"] for b in boxes] == [b["class"] for b in want]
        for b, w in zip(boxes, want, strict=True):
            assert b["x"] == pytest.approx(w["x"], abs=1e-3) and b["w"] == pytest.approx(
                w["w"], abs=1e-3
            )
    _project(store, "c", "text_classification", [{"class": "dog"}, {"class": "cat"}])
    sl.export_files("c", tmp_path / "c", formats=("csv",), store=store)
    sl.create_project("c2", "text_classification", ["cat", "dog"], store=store)
    sl.import_file("c2", tmp_path / "c" / "labels.csv", "csv", mode="gold", store=store)
    assert [t.gold for t in sl.all_tasks(store, "c2")] == [{"class": "dog"}, {"class": "cat"}]


def test_imports_refuse_paths_outside_the_image_folder_and_bad_files(
    store: Store, tmp_path: Path
) -> None:
    sl.create_project("bad", "bboxes", ["cat"], store=store)
    doc = {
        "images": [{"id": 1, "file_name": "../../etc/passwd", "width": 4, "height": 4}],
        "categories": [],
        "annotations": [],
    }
    (tmp_path / "evil.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput):
        sl.import_file("bad", tmp_path / "evil.json", "coco", store=store)
    (tmp_path / "fake.png").write_bytes(b"<script>alert(1)</script>")
    (tmp_path / "fake.csv").write_text("path\nfake.png\n")
    with pytest.raises(InvalidInput, match="not a valid image"):
        sl.import_file("bad", tmp_path / "fake.csv", "csv", store=store)
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InvalidInput):
        sl.import_file("bad", tmp_path / "broken.json", "labelstudio", store=store)
    assert sl.all_tasks(store, "bad") == []


def test_coco_import_as_prelabels(store: Store, tmp_path: Path) -> None:
    _project(store, "b1", "bboxes", [{"boxes": b} for b in BOXES])
    sl.export_files("b1", tmp_path / "o", formats=("coco",), store=store)
    sl.create_project("b2", "bboxes", ["cat", "dog"], store=store)
    report = sl.import_file("b2", tmp_path / "o" / "annotations.coco.json", "coco", store=store)
    assert report.tasks == 3 and report.annotations == 0
    tasks = sl.all_tasks(store, "b2")
    assert tasks[1].prelabel is not None and len(tasks[1].prelabel["value"]["boxes"]) == 2
    assert tasks[2].prelabel is None  # no annotations in the file for that image
