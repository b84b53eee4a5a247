"""Artifacts (files, directories, symlinks, downloads) and lineage through the SDK."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

import stackml
from stackml.errors import InvalidInput, NotFound
from stackml.store import LineageEdge
from stackml.tracking import download_artifact


def _run(mode: str) -> stackml.ActiveRun:
    return stackml.start_run(project=f"a-{uuid.uuid4().hex[:8]}", capture_environment=False)


def _tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (root / "sub" / "config.json").write_text('{"a": 1}')
    (root / "sub" / "deeper" / "notes.txt").write_text("hello")
    return root


def test_file_and_directory_artifacts(mode: str, tmp_path: Path) -> None:
    model = _tree(tmp_path / "model")
    with _run(mode) as run:
        single = run.log_artifact(model / "weights.bin")
        many = run.log_artifact(model, name="checkpoints/best")
    assert [a.path for a in single] == ["weights.bin"]
    assert single[0].size == 2000
    assert [a.path for a in many] == [
        "checkpoints/best/sub/config.json",
        "checkpoints/best/sub/deeper/notes.txt",
        "checkpoints/best/weights.bin",
    ]
    assert many[0].media_type == "application/json"
    assert many[1].media_type == "text/plain"
    # Identical content is stored once.
    assert many[2].blob_hash == single[0].blob_hash
    listed = run.store.metadata.list_artifacts(run.id, prefix="checkpoints/best")
    assert [a.path for a in listed] == [a.path for a in many]

    out = download_artifact(run.id, "checkpoints/best", tmp_path / "out")
    assert (out / "sub" / "deeper" / "notes.txt").read_text() == "hello"
    assert (out / "weights.bin").read_bytes() == b"\x00\x01" * 1000
    (tmp_path / "one").mkdir()
    copied = download_artifact(run.id, "weights.bin", tmp_path / "one")
    assert copied == tmp_path / "one" / "weights.bin" and copied.stat().st_size == 2000
    with pytest.raises(NotFound):
        download_artifact(run.id, "checkpoints/nothing", tmp_path / "none")


def test_default_name_is_the_directory_name(mode: str, tmp_path: Path) -> None:
    _tree(tmp_path / "model")
    with _run(mode) as run:
        logged = run.log_artifact(tmp_path / "model")
    assert {a.path for a in logged} == {
        "model/weights.bin",
        "model/sub/config.json",
        "model/sub/deeper/notes.txt",
    }


def test_symlink_escaping_the_directory_is_refused_and_nothing_recorded(
    mode: str, tmp_path: Path
) -> None:
    model = _tree(tmp_path / "model")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    os.symlink(secret, model / "sub" / "leak.txt")
    with _run(mode) as run:
        with pytest.raises(InvalidInput, match="outside"):
            run.log_artifact(model)
        assert run.store.metadata.list_artifacts(run.id) == []
        os.symlink(tmp_path, model / "up")
        (model / "sub" / "leak.txt").unlink()
        with pytest.raises(InvalidInput, match="outside"):
            run.log_artifact(model)
        assert run.store.metadata.list_artifacts(run.id) == []


def test_symlinks_inside_the_directory_are_followed(mode: str, tmp_path: Path) -> None:
    model = _tree(tmp_path / "model")
    os.symlink(model / "weights.bin", model / "latest.bin")
    os.symlink(model, model / "sub" / "loop")  # a cycle back to the root is not followed
    with _run(mode) as run:
        logged = {a.path: a for a in run.log_artifact(model)}
    assert logged["model/latest.bin"].blob_hash == logged["model/weights.bin"].blob_hash
    assert not any("loop" in path for path in logged)


def test_bad_paths_are_refused(mode: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with _run(mode) as run:
        with pytest.raises(InvalidInput):
            run.log_artifact(tmp_path / "missing")
        for name in ("../up", "/abs", "a/../b", "a%2e%2e", ""):
            with pytest.raises(InvalidInput):
                run.log_artifact(tmp_path / "f.txt", name=name)
        with pytest.raises(InvalidInput):
            run.log_text("x", "../x.txt")
        assert run.store.metadata.list_artifacts(run.id) == []


def test_text_and_json_artifacts(mode: str, tmp_path: Path) -> None:
    with _run(mode) as run:
        run.log_text("hello", "notes/readme.txt")
        record = run.log_dict({"b": [1, 2], "a": "x"}, "eval/report.json")
        with pytest.raises(InvalidInput):
            run.log_dict({"bad": float("nan")}, "eval/nan.json")
    assert record.media_type == "application/json"
    data = run.store.blobs.get_bytes(record.blob_hash)
    assert json.loads(data) == {"a": "x", "b": [1, 2]}
    text = download_artifact(run.id, "notes/readme.txt", tmp_path / "readme.txt")
    assert text.read_text() == "hello"


def test_large_directory_upload(mode: str, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):  # above the progress-bar threshold
        (folder / f"f{i:03d}.txt").write_text(str(i))
    with _run(mode) as run:
        logged = run.log_artifact(folder)
    assert len(logged) == 60
    assert len(run.store.metadata.list_artifacts(run.id, prefix="many")) == 60


def test_use_dataset_and_lineage_hooks(mode: str) -> None:
    with _run(mode) as run:
        edge = run.use_dataset("digits", version="v3")
        run.use_dataset("mnist")
        run.log_output("model_version", "digits-cnn@1")
        with pytest.raises(InvalidInput):
            run.use_dataset("../digits")
    assert (edge.source_type, edge.source_id, edge.target_type, edge.target_id, edge.role) == (
        "dataset_version",
        "digits@v3",
        "run",
        run.id,
        "input",
    )
    edges = run.store.metadata.list_lineage("run", run.id)
    simple = {(e.source_type, e.source_id, e.target_type, e.target_id, e.role) for e in edges}
    assert simple == {
        ("dataset_version", "digits@v3", "run", run.id, "input"),
        ("dataset_version", "mnist@latest", "run", run.id, "input"),
        ("run", run.id, "model_version", "digits-cnn@1", "output"),
    }
    assert all(isinstance(e, LineageEdge) for e in edges)
