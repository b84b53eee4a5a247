"""Active learning, auto-labeling with audit, and export as a new dataset version."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import stackml.data as sd
import stackml.labeling as sl
from stackml.errors import InvalidInput
from stackml.labeling import active
from stackml.store import Store, open_store
from tests.labeling.support import png


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "store"))
    yield opened
    opened.close()


def test_uncertainty_scores_order_items() -> None:
    probs = np.array([[0.98, 0.01, 0.01], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]])
    assert list(np.argsort(-active.entropy(probs))) == [1, 2, 0]
    assert list(np.argsort(-active.margin(probs))) == [2, 1, 0]
    assert list(np.argsort(-active.least_confidence(probs))) == [1, 2, 0]


def test_k_center_greedy_picks_spread_out_items() -> None:
    cluster = np.random.default_rng(0).normal(0, 0.01, (20, 2))
    points = np.vstack([cluster, [[5, 5]], [[-5, 5]], cluster + 0.02])
    picked = active.k_center_greedy(points, 3)
    assert set(picked[:2]) == {20, 21}  # the two outliers first
    assert len(set(picked)) == 3


def _digits_project(store: Store, n: int = 12) -> list[int]:
    sl.create_project("q", "image_classification", ["0", "1"], store=store)
    return sl.add_tasks(
        "q", [{"image_bytes": png(seed=i), "key": str(i)} for i in range(n)], store=store
    )


def _model(confidences: dict[int, float]) -> Any:
    """A fake classifier whose confidence per item comes from the item's key."""

    def model(items: list[Mapping[str, Any]]) -> dict[str, Any]:
        top = np.array([confidences[int(str(i["path"]))] for i in items])
        probs = np.stack([top, 1 - top], axis=1)
        return {"probabilities": probs, "embeddings": np.stack([top, top**2], axis=1)}

    return model


def test_rank_reorders_the_queue_by_uncertainty(store: Store) -> None:
    ids = _digits_project(store)
    conf = {i: 0.99 - 0.01 * i for i in range(12)}
    conf[7] = 0.51  # the most uncertain
    loader = lambda t: {"path": t.key}  # noqa: E731
    scores = active.rank_tasks(store, "q", _model(conf), strategy="margin", data_loader=loader)
    assert max(scores, key=scores.__getitem__) == ids[7]
    assert sl.next_tasks("q", user="ada", store=store)[0].id == ids[7]
    diverse = active.rank_tasks(store, "q", _model(conf), strategy="k_center", data_loader=loader)
    assert len(diverse) == 11  # ada's leased task is no longer open
    with pytest.raises(InvalidInput):
        active.rank_tasks(store, "q", lambda items: [[1.0]], data_loader=loader)
    with pytest.raises(InvalidInput):
        active.rank_tasks(store, "q", _model(conf), strategy="astrology")


def test_auto_label_keeps_provenance_audits_a_sample_and_export_can_exclude(store: Store) -> None:
    _digits_project(store, n=20)
    conf = {i: (0.99 if i < 15 else 0.6) for i in range(20)}
    model = _model(conf)
    report = sl.auto_label(
        "q",
        lambda items: model([{"path": i["key"]} for i in items]),
        threshold=0.9,
        audit=0.4,
        model_name="digits@3",
        data_loader=lambda t: {"key": t.key},
        store=store,
    )
    assert (report.scored, report.labeled, report.below_threshold) == (20, 15, 5)
    machine = [a for a in sl.all_annotations(store, "q") if a.origin == "machine"]
    assert len(machine) == 15 and {a.model for a in machine} == {"digits@3"}
    assert all(a.confidence == pytest.approx(0.99) for a in machine)
    audited = [a for a in machine if a.status == "audit"]
    assert len(audited) == report.audited and 0 < report.audited < 15
    assert sl.progress("q", store=store).machine == 15
    # People label the rest; a reviewer rejects one machine label in the audit.
    for task in sl.next_tasks("q", user="ada", limit=10, store=store):
        sl.submit(task.id, {"class": "1"}, user="ada", store=store)
    sl.review(audited[0].id, "reject", comment="wrong digit", reviewer="rita", store=store)
    everything = sd.get(sl.export_dataset("q", "q-all", store=store).dataset, "latest", store=store)
    table = everything.to_pandas()
    assert len(table) == 19 and set(table["origin"]) == {"machine", "human"}
    humans = sd.get(
        sl.export_dataset("q", "q-human", machine="exclude", store=store).dataset, store=store
    )
    assert set(humans.to_pandas()["origin"]) == {"human"} and len(humans.to_pandas()) == 5
    weighted = sl.export_dataset("q", "q-weighted", machine=0.3, store=store)
    frame = sd.get(weighted.dataset, store=store).to_pandas()
    assert set(frame.loc[frame["origin"] == "machine", "weight"]) == {0.3}


def test_export_is_a_new_dataset_version_with_lineage(store: Store, tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(6):
        Image.new("L", (8, 8), color=i * 40).save(folder / f"{i}.png")
    frame = pd.DataFrame(
        {"path": [f"{i}.png" for i in range(6)], "label": [i % 2 for i in range(6)]}
    )
    source = sd.add("raw", folder, table=frame, path_column="path", label="label", store=store)
    sl.create_project(
        "lab", "image_classification", ["even", "odd"], source=source.ref, store=store
    )
    ids = sl.tasks_from_dataset(
        "lab", source.ref, label_column="label", as_prelabel=True, store=store
    )
    assert len(ids) == 6
    task = sl.all_tasks(store, "lab")[0]
    assert task.data["width"] == 8 and task.data["path"] == "0.png" and task.prelabel is not None
    for t in sl.next_tasks("lab", user="ada", limit=6, store=store):
        sl.submit(
            t.id,
            {"class": "even" if t.data["field.label"] == 0 else "odd"},
            user="ada",
            store=store,
        )
    version = sl.export_dataset("lab", "raw-labeled", store=store)
    assert version.dataset == "raw-labeled" and version.number == 1
    handle = sd.get("raw-labeled", version.id, store=store)
    table = handle.to_pandas()
    assert list(table["label"]) == ["even", "odd"] * 3
    paths = {e.path for e in handle.manifest.entries}
    assert set(table["path"]) <= paths and "annotations.coco.json" not in paths
    assert "labels.csv" in paths and "labelstudio.json" in paths
    ups = store.metadata.list_lineage("dataset_version", version.ref, direction="upstream")
    assert {(e.source_type, e.source_id, e.role) for e in ups} == {
        ("label_project", "lab", "labels"),
        ("dataset_version", source.ref, "derived"),
    }
    again = sl.export_dataset("lab", "raw-labeled", store=store)
    assert again.number == 2  # every export is a new version
    with pytest.raises(InvalidInput):
        sl.create_project("empty", "image_classification", ["a"], store=store)
        sl.export_dataset("empty", store=store)


def test_gc_keeps_the_images_of_label_tasks(store: Store) -> None:
    from stackml.store.maintenance import collect_garbage

    ids = _digits_project(store, n=2)
    digest = store.metadata.get_label_task(ids[0]).data["image"]
    assert digest in set(store.metadata.referenced_blobs())
    collect_garbage(store.metadata, store.blobs, grace_seconds=0)
    assert store.blobs.exists(digest)
