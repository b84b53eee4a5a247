"""Adding, reading, deduplicating and materialising dataset versions."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import stackml
import stackml.data as sd
import stackml.tracking
from stackml.data.hashcache import HashCache
from stackml.data.manifest import Manifest
from stackml.errors import InvalidInput, NotFound
from stackml.store import Store


def test_add_file_tree_and_get_it_back(store: Store, tree: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int, int, int]] = []
    v = sd.add("docs", tree, message="first", store=store, progress=lambda *a: seen.append(a))
    assert (v.kind, v.number, v.num_files, v.aliases) == ("files", 1, 6, ("latest",))
    assert v.size_bytes == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    assert seen[-1] == (6, v.size_bytes, 6, v.size_bytes)
    handle = sd.get("docs", "v1", dest=tmp_path / "out", store=store)
    assert (handle.path / "sub" / "nested.bin").read_bytes() == (
        tree / "sub" / "nested.bin"
    ).read_bytes()
    assert sorted(e.path for e in handle.manifest.entries)[-1] == "sub/nested.bin"
    assert handle.manifest.by_path()["f0.txt"].media_type == "text/plain"
    # every way of naming the version resolves to the same id
    for ref in ("v1", "latest", v.id, v.id[:6]):
        assert sd.resolve("docs", ref, store=store).id == v.id
    with pytest.raises(NotFound):
        sd.resolve("docs", "v9", store=store)


def test_identical_files_are_stored_once(store: Store, tree: Path, tmp_path: Path) -> None:
    sd.add("a", tree, store=store)
    before = set(store.blobs.iter_digests())
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in tree.glob("*.txt"):
        (copy / p.name).write_bytes(p.read_bytes())
    sd.add("b", copy, store=store)
    new = set(store.blobs.iter_digests()) - before
    assert len(new) == 1  # only b's manifest: its files were already stored


def test_readd_uses_cache_and_verify_rehashes(store: Store, tree: Path) -> None:
    old = os.stat(tree / "f1.txt")
    os.utime(tree / "f1.txt", ns=(old.st_atime_ns - 10**10, old.st_mtime_ns - 10**10))
    first = sd.add("c", tree, store=store)
    # Same size and mtime, different bytes: a stat cache alone cannot see this edit.
    stamp = os.stat(tree / "f1.txt")
    (tree / "f1.txt").write_text("FILE 1\n")
    os.utime(tree / "f1.txt", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    cached = sd.add("c", tree, store=store)
    assert cached.manifest_hash == first.manifest_hash  # trusted the cache (size/mtime/inode)
    verified = sd.add("c", tree, store=store, verify=True)
    assert verified.manifest_hash != first.manifest_hash
    assert verified.parent_id == cached.id and cached.parent_id == first.id


def test_cache_is_not_trusted_when_the_blob_is_gone(store: Store, tree: Path) -> None:
    old = os.stat(tree / "f2.txt")
    os.utime(tree / "f2.txt", ns=(old.st_atime_ns - 10**10, old.st_mtime_ns - 10**10))
    v = sd.add("d", tree, store=store)
    digest = sd.get("d", store=store).manifest.by_path()["f2.txt"].hash
    store.blobs.delete(digest)
    sd.add("d", tree, store=store)
    assert store.blobs.exists(digest)
    assert v.number == 1


def test_hash_cache_skips_racy_entries(tmp_path: Path) -> None:
    cache = HashCache(tmp_path / "h.db")
    fresh = tmp_path / "fresh"
    fresh.write_text("x")
    from stackml.data.hashcache import FileStamp

    cache.store([(str(fresh), FileStamp.of(os.stat(fresh)), "0" * 64)])
    assert cache.lookup_under(tmp_path) == {}
    cache.close()


def test_table_with_splits_key_and_pandas_torch(store: Store) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": range(200), "x": rng.normal(size=200), "y": np.arange(200) % 4})
    v = sd.add("tab", frame, split=sd.TWO_VALIDATION_SETS, seed=1, label="y", key="id", store=store)
    assert v.kind == "table" and v.num_rows == 200
    assert v.splits["counts"] == {"train": 140, "train_val": 20, "test_val": 20, "test": 20}
    assert v.splits["stratify"] == "y" and v.splits["seed"] == 1
    handle = sd.get("tab", store=store)
    train = handle.to_pandas(split="train")
    assert len(train) == 140 and set(train["y"].value_counts()) == {35}
    assert handle.schema.column("y").type == "category"
    torch_ds = handle.to_torch(split="test")
    x, y = torch_ds[0]
    assert len(torch_ds) == 20 and tuple(x.shape) == (2,) and int(y) in range(4)
    with pytest.raises(InvalidInput, match="unknown split"):
        handle.to_arrow(split="nope")
    again = sd.add("tab", frame, split=sd.TWO_VALIDATION_SETS, seed=1, label="y", store=store)
    assert again.table_hash == v.table_hash and again.id != v.id


def test_image_tree_with_label_table(store: Store, tmp_path: Path) -> None:
    from PIL import Image

    images = tmp_path / "imgs"
    images.mkdir()
    rows = []
    for i in range(12):
        Image.fromarray(np.full((8, 8), i * 10, np.uint8)).save(images / f"{i}.png")
        rows.append({"path": f"{i}.png", "label": i % 3})
    v = sd.add(
        "pics",
        images,
        table=pd.DataFrame(rows),
        path_column="path",
        label="label",
        split={"train": 0.5, "test": 0.5},
        store=store,
    )
    assert v.kind == "mixed" and v.num_files == 12
    handle = sd.get("pics", store=store)
    assert handle.schema.images is not None and handle.schema.images.shapes == {"8x8": 12}
    x, _ = handle.to_torch(split="train")[0]
    assert tuple(x.shape) == (1, 8, 8) and float(x.max()) <= 1.0
    bad = pd.DataFrame([{"path": "missing.png", "label": 0}])
    with pytest.raises(InvalidInput, match=r"missing\.png"):
        sd.add("pics", images, table=bad, path_column="path", store=store)


def test_concurrent_adds_make_distinct_versions(store: Store, tree: Path) -> None:
    results: list[str] = []
    errors: list[BaseException] = []

    def add() -> None:
        try:
            results.append(sd.add("race", tree, store=store, message="same").id)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    versions = sd.list_versions("race", store=store)
    assert len(set(results)) == 4 and sorted(v.number for v in versions) == [1, 2, 3, 4]


def test_derive_filter_relabel_and_lineage(store: Store) -> None:
    frame = pd.DataFrame({"id": range(10), "label": ["a", "b"] * 5, "v": range(10)})
    base = sd.add("lab", frame, key="id", split={"train": 0.5, "test": 0.5}, store=store)
    kept = sd.derive("lab@v1", op="filter", where="v >= 5", store=store)
    assert kept.num_rows == 5 and kept.parent_id == base.id
    assert kept.transform["op"] == "filter" and kept.transform["parent"] == base.ref
    assert sum(kept.splits["counts"].values()) == 5
    relabeled = sd.derive(
        "lab@latest", op="relabel", column="label", mapping={"a": "b"}, store=store
    )
    assert set(sd.get("lab", relabeled.id, store=store).to_pandas()["label"]) == {"b"}
    labels = pd.DataFrame({"id": [0, 1], "label": ["z", "z"]})
    merged = sd.derive(
        "lab@v1",
        "lab-merged",
        op="merge_labels",
        key="id",
        column="label",
        labels=labels,
        store=store,
    )
    assert list(sd.get("lab-merged", store=store).to_pandas()["label"])[:3] == ["z", "z", "a"]
    edges = store.metadata.list_lineage("dataset_version", base.ref, direction="downstream")
    assert {e.target_id for e in edges} == {kept.ref, merged.ref}
    diff = sd.diff("lab@v1", "lab@v2", store=store)
    assert (diff.rows_removed, diff.rows_added, diff.key) == (5, 0, "id")
    assert any(s.column == "v" for s in diff.shifts)
    with pytest.raises(InvalidInput, match="bad filter"):
        sd.derive("lab@v1", op="filter", where="nope ===", store=store)


def test_file_diff_validate_query_tag_and_rm(store: Store, tree: Path) -> None:
    sd.add("t", tree, store=store)
    (tree / "f0.txt").write_text("changed!\n")
    (tree / "f1.txt").unlink()
    (tree / "new.txt").write_text("n")
    sd.add("t", tree, store=store, verify=True)
    d = sd.diff("t@v1", "t@v2", store=store)
    assert (d.files_added, d.files_removed, d.files_changed) == (
        ["new.txt"],
        ["f1.txt"],
        ["f0.txt"],
    )
    sd.tag("t", "prod", "v1", store=store)
    assert sd.resolve("t", "prod", store=store).number == 1
    sd.tag("t", "prod", "v2", store=store)
    history = store.metadata.alias_history("t", "prod")
    assert [e.version_id for e in history] == [
        sd.resolve("t", f"v{n}", store=store).id for n in (1, 2)
    ]
    with pytest.raises(InvalidInput, match="looks like"):
        sd.tag("t", "v7", "v1", store=store)
    removed = sd.remove("t", "v2", store=store)
    assert removed.deleted and sd.resolve("t", "latest", store=store).number == 1
    with pytest.raises(NotFound):
        sd.resolve("t", "prod", store=store)
    frame = pd.DataFrame({"n": [1, 2, 3]})
    sd.add("q", frame, expectations="columns: {n: {max: 2}}", store=store)
    assert sd.query("q@v1", "SELECT sum(n) AS s FROM data", store=store).to_pylist() == [{"s": 6}]
    report = sd.validate("q@v1", store=store)
    assert not report.ok and report.failures[0].name == "n max 2"
    assert sd.validate("q@v1", expectations="columns: {n: {max: 3}}", store=store).ok
    with pytest.raises(InvalidInput, match="query failed"):
        sd.query("q@v1", "SELECT nope FROM data", store=store)


def test_use_dataset_records_the_resolved_id(store: Store, tree: Path, tmp_path: Path) -> None:
    v = sd.add("inputs", tree, store=store)
    stackml.tracking.set_tracking_uri(str(tmp_path / "store"))
    try:
        with stackml.start_run(project="p") as run:
            edge = run.use_dataset("inputs", version="latest")
            unknown = run.use_dataset("elsewhere", version="v1")
    finally:
        stackml.tracking.set_tracking_uri(None)
        stackml.tracking.reset()
    assert edge.source_id == v.ref and edge.properties == {"ref": "latest", "number": 1}
    assert unknown.source_id == "elsewhere@v1"


def test_manifest_round_trip_is_canonical(store: Store, tree: Path) -> None:
    v = sd.add("m", tree, store=store)
    raw = store.blobs.get_bytes(v.manifest_hash)  # type: ignore[arg-type]
    assert Manifest.from_bytes(raw).to_bytes() == raw
