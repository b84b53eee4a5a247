"""Agreement, gold scores, consensus and annotator statistics."""

from __future__ import annotations

import numpy as np
import pytest

from stackml.labeling import geometry, quality
from stackml.store.labeling_entities import Annotation, LabelConfig, LabelTask

CLASSES = LabelConfig.from_dict({"task_type": "image_classification", "classes": ["a", "b", "c"]})
BOXES = LabelConfig.from_dict({"task_type": "bboxes", "classes": ["cat", "dog"]})


def ann(i: int, task: int, user: str, value: dict, **kw: object) -> Annotation:
    fields = {"origin": "human", "status": "submitted", "created_at": i, "duration_ms": 1000 * i}
    fields.update(kw)
    return Annotation(id=i, task_id=task, project="p", user=user, value=value, **fields)  # type: ignore[arg-type]


def task(i: int, gold: dict | None = None) -> LabelTask:
    return LabelTask(i, "p", None, {}, 0.0, "", None, gold, None, "done", 1, 0)


def test_cohen_kappa_matches_the_textbook() -> None:
    # 50 items: both yes 20, both no 15, disagreements 10 and 5 -> kappa 0.4
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert quality.cohen_kappa(a, b) == pytest.approx(0.4)
    assert quality.cohen_kappa(["x", "x"], ["x", "x"]) == 1.0


def test_fleiss_kappa_matches_the_textbook() -> None:
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories -> 0.210
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert quality.fleiss_kappa(table) == pytest.approx(0.210, abs=1e-3)
    with pytest.raises(ValueError):
        quality.fleiss_kappa(np.array([[1, 0], [2, 0]]))


def test_iou_of_boxes_and_polygons() -> None:
    a = {"x": 0, "y": 0, "w": 10, "h": 10}
    assert geometry.box_iou(a, {"x": 5, "y": 0, "w": 10, "h": 10}) == pytest.approx(50 / 150)
    assert geometry.box_iou(a, {"x": 20, "y": 20, "w": 5, "h": 5}) == 0.0
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    half = [[0, 0], [5, 0], [5, 10], [0, 10]]
    assert geometry.polygon_iou(square, half) == pytest.approx(0.5, abs=0.03)
    triangle = [[0, 0], [10, 0], [0, 10]]
    assert geometry.polygon_iou(square, triangle) == pytest.approx(0.5, abs=0.03)


def test_agreement_kappa_for_classes_and_iou_for_boxes() -> None:
    labels = {"ada": "aabbcab", "bob": "aabbcbb", "cyd": "aabbcab"}
    anns = [
        ann(i * 10 + j, j, user, {"class": cls})
        for i, (user, seq) in enumerate(labels.items())
        for j, cls in enumerate(seq)
    ]
    agreed = quality.agreement(CLASSES, anns)
    assert agreed.items == 7 and set(agreed.pairwise) == {"ada~bob", "ada~cyd", "bob~cyd"}
    assert agreed.pairwise["ada~cyd"] == 1.0 and agreed.pairwise["ada~bob"] < 1.0
    assert agreed.fleiss is not None and 0.5 < agreed.fleiss < 1.0
    boxes = [
        ann(1, 1, "ada", {"boxes": [{"class": "cat", "x": 0, "y": 0, "w": 10, "h": 10}]}),
        ann(2, 1, "bob", {"boxes": [{"class": "cat", "x": 5, "y": 0, "w": 10, "h": 10}]}),
        ann(3, 2, "ada", {"boxes": []}),
        ann(4, 2, "bob", {"boxes": [{"class": "dog", "x": 1, "y": 1, "w": 3, "h": 3}]}),
    ]
    shape = quality.agreement(BOXES, boxes)
    assert shape.pairwise["ada~bob"] == pytest.approx((1 / 3 + 0) / 2)


def test_rejected_and_fixed_annotations_do_not_count() -> None:
    anns = [
        ann(1, 1, "ada", {"class": "a"}),
        ann(2, 1, "bob", {"class": "b"}, status="rejected"),
        ann(3, 1, "cyd", {"class": "b"}, status="fixed"),
    ]
    assert quality.consensus(CLASSES, anns) == {1: ({"class": "a"}, 1.0)}


def test_gold_scores_and_weighted_consensus() -> None:
    tasks = [task(1, {"class": "a"}), task(2, {"class": "b"}), task(3)]
    anns = [
        ann(1, 1, "good", {"class": "a"}),
        ann(2, 2, "good", {"class": "b"}),
        ann(3, 1, "bad1", {"class": "c"}),
        ann(4, 2, "bad1", {"class": "c"}),
        ann(5, 1, "bad2", {"class": "c"}),
        ann(6, 2, "bad2", {"class": "a"}),
        ann(7, 3, "good", {"class": "a"}),
        ann(8, 3, "bad1", {"class": "c"}),
        ann(9, 3, "bad2", {"class": "c"}),
    ]
    scores = quality.gold_scores(CLASSES, tasks, anns)
    assert scores == {"bad1": 0.0, "bad2": 0.0, "good": 1.0}
    assert quality.consensus(CLASSES, anns)[3][0] == {"class": "c"}  # majority
    weighted = quality.consensus(CLASSES, anns, method="weighted", weights=scores)
    assert weighted[3][0] == {"class": "a"}  # the annotator right on gold wins
    stats = {s.user: s for s in quality.annotator_stats(CLASSES, tasks, anns)}
    assert stats["good"].gold_accuracy == 1.0 and stats["good"].annotations == 3
    assert stats["bad1"].agreement is not None and stats["good"].median_seconds == 2.0


def test_box_consensus_averages_the_majority_and_drops_outliers() -> None:
    anns = [
        ann(1, 1, "a", {"boxes": [{"class": "cat", "x": 10, "y": 10, "w": 20, "h": 20}]}),
        ann(2, 1, "b", {"boxes": [{"class": "cat", "x": 12, "y": 10, "w": 20, "h": 20}]}),
        ann(
            3,
            1,
            "c",
            {
                "boxes": [
                    {"class": "cat", "x": 11, "y": 10, "w": 20, "h": 20},
                    {"class": "dog", "x": 50, "y": 50, "w": 5, "h": 5},
                ]
            },
        ),
    ]
    value, support = quality.consensus(BOXES, anns)[1]
    assert len(value["boxes"]) == 1 and value["boxes"][0]["x"] == pytest.approx(11)
    assert support == 1.0


def test_multilabel_and_spans_consensus() -> None:
    multi = LabelConfig.from_dict({"task_type": "image_multilabel", "classes": ["x", "y", "z"]})
    anns = [
        ann(1, 1, "a", {"classes": ["x", "y"]}),
        ann(2, 1, "b", {"classes": ["x"]}),
        ann(3, 1, "c", {"classes": ["x", "y"]}),
    ]
    assert quality.consensus(multi, anns)[1][0] == {"classes": ["x", "y"]}
    spans = LabelConfig.from_dict({"task_type": "text_spans", "classes": ["PER"]})
    s1 = {"spans": [{"class": "PER", "start": 0, "end": 3}]}
    s2 = {"spans": [{"class": "PER", "start": 0, "end": 4}]}
    anns = [ann(1, 1, "a", s1), ann(2, 1, "b", s1), ann(3, 1, "c", s2)]
    assert quality.consensus(spans, anns)[1][0] == s1
