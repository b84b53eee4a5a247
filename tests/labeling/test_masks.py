"""Segmentation masks: COCO RLE like pycocotools writes it, checked against the image,
exported to COCO and read back, and scored by mask IoU."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import stackml.labeling as sl
from stackml.errors import InvalidInput
from stackml.labeling import quality
from stackml.labeling.masks import mask_iou, mask_to_rle, rle_bbox, rle_to_mask
from stackml.store import Store, open_store
from stackml.store.labeling_entities import LabelConfig
from stackml.store.labeling_masks import decode_counts, encode_counts
from stackml.store.labeling_values import check_value
from tests.labeling.support import png

W, H = 64, 48
CONFIG = LabelConfig.from_dict({"task_type": "masks", "classes": ["road", "car"]})
DATA = {"image": "ab" * 32, "width": W, "height": H}


def _block(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "store"))
    yield opened
    opened.close()


def test_rle_matches_pycocotools() -> None:
    from pycocotools import mask as coco_mask

    rng = np.random.default_rng(7)
    for _ in range(50):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.random()
        ours = mask_to_rle(mask)
        theirs = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ours["counts"] == theirs["counts"].decode() and ours["size"] == [h, w]
        assert (rle_to_mask(ours) == mask).all()
        with warnings.catch_warnings():  # pycocotools predates NumPy 2's copy keyword
            warnings.simplefilter("ignore", DeprecationWarning)
            assert (coco_mask.decode({**ours, "counts": ours["counts"].encode()}) == mask).all()
        if mask.any():
            assert rle_bbox(ours) == pytest.approx(list(coco_mask.toBbox(theirs)))
    assert decode_counts(encode_counts([0, 5, 123456, 7, 1])) == [0, 5, 123456, 7, 1]


def test_values_are_checked_against_the_image() -> None:
    rle = mask_to_rle(_block(4, 4, 20, 12))
    checked = check_value(CONFIG, DATA, {"masks": [{"class": "road", "rle": rle}]})
    assert checked == {"masks": [{"class": "road", "rle": rle}]}
    # Run lengths given as a list are stored compressed.
    runs = decode_counts(rle["counts"])
    listed = check_value(
        CONFIG, DATA, {"masks": [{"class": "road", "rle": {**rle, "counts": runs}}]}
    )
    assert listed == checked
    bad = [
        {"class": "road", "rle": mask_to_rle(np.ones((H, W + 1), dtype=bool))},  # wrong size
        {"class": "road", "rle": mask_to_rle(np.zeros((H, W), dtype=bool))},  # empty
        {"class": "road", "rle": {"size": [H, W], "counts": [0, 5]}},  # runs do not cover it
        {"class": "road", "rle": {"size": [H, W], "counts": "\x7f"}},  # not an RLE string
        {"class": "road", "rle": {"size": [H, -W], "counts": runs}},
        {"class": "road", "rle": [1, 2]},
        {"class": "tree", "rle": rle},  # unknown class
    ]
    for item in bad:
        with pytest.raises(InvalidInput):
            check_value(CONFIG, DATA, {"masks": [item]})


def test_masks_export_to_coco_and_import_back(store: Store, tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    sl.create_project("seg", "masks", ["road", "car"], store=store)
    (tid,) = sl.add_tasks("seg", [{"image_bytes": png(W, H), "key": "a.png"}], store=store)
    road, car = _block(0, 30, 64, 48), _block(10, 5, 25, 15)
    value = {
        "masks": [
            {"class": "road", "rle": mask_to_rle(road)},
            {"class": "car", "rle": mask_to_rle(car)},
        ]
    }
    store.metadata.submit_annotation(tid, "ada", value)
    sl.export_files("seg", tmp_path / "out", formats=("coco",), store=store)
    path = tmp_path / "out" / "annotations.coco.json"
    coco = COCO(str(path))
    anns = {coco.loadCats(a["category_id"])[0]["name"]: a for a in coco.loadAnns(coco.getAnnIds())}
    assert anns["road"]["area"] == road.sum() and anns["car"]["bbox"] == [10.0, 5.0, 15.0, 10.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert (coco.annToMask(anns["car"]) == car).all()
        assert (coco.annToMask(anns["road"]) == road).all()
    # Back in: RLE segmentations, and a polygon one drawn into a mask.
    doc = json.loads(path.read_text())
    doc["annotations"].append(
        {
            "id": 99,
            "image_id": tid,
            "category_id": anns["car"]["category_id"],
            "segmentation": [[40, 5, 50, 5, 50, 15, 40, 15]],
            "bbox": [40, 5, 10, 10],
            "area": 100,
            "iscrowd": 0,
        }
    )
    path.write_text(json.dumps(doc))
    sl.create_project("seg2", "masks", ["road", "car"], store=store)
    report = sl.import_file("seg2", path, "coco", mode="annotations", store=store)
    assert report.annotations == 1
    (back,) = sl.all_annotations(store, "seg2")
    got = [(m["class"], rle_to_mask(m["rle"])) for m in back.value["masks"]]
    assert got[0][0] == "road" and (got[0][1] == road).all()
    assert got[1][0] == "car" and (got[1][1] == car).all()
    assert got[2][0] == "car" and got[2][1][5:15, 40:50].mean() > 0.9


def test_mask_agreement_is_iou_based(store: Store) -> None:
    sl.create_project("agree", "masks", ["road", "car"], overlap=2, store=store)
    (tid,) = sl.add_tasks("agree", [{"image_bytes": png(W, H)}], store=store)
    a, b = _block(0, 0, 20, 20), _block(10, 0, 30, 20)  # overlap 10x20, union 30x20
    for user, mask in (("ada", a), ("bob", b)):
        store.metadata.next_label_tasks("agree", user)
        store.metadata.submit_annotation(
            tid, user, {"masks": [{"class": "car", "rle": mask_to_rle(mask)}]}
        )
    assert mask_iou(mask_to_rle(a), mask_to_rle(b)) == pytest.approx(1 / 3)
    result = quality.agreement(CONFIG, store.metadata.list_annotations("agree"))
    assert result.pairwise == {"ada~bob": pytest.approx(1 / 3)}
