"""``stackml label``: create, import, status, assign, agreement and export end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import stackml.data as sd
import stackml.labeling as sl
import stackml.tracking
from stackml.cli.main import app
from stackml.store import open_store
from tests.labeling.support import png


@pytest.fixture(autouse=True)
def _clean_tracking() -> Iterator[None]:
    stackml.tracking.reset()
    yield
    stackml.tracking.reset()


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_label_commands_end_to_end(tmp_path: Path) -> None:
    images = tmp_path / "photos"
    images.mkdir()
    for i in range(4):
        (images / f"{i}.png").write_bytes(png(seed=i))
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(4)], "label": ["cat", "dog"] * 2})
    store = open_store(str(tmp_path / ".stackml"))
    source = sd.add("photos", images, table=table, path_column="path", store=store)
    store.close()
    made = run(
        "label",
        "create",
        "pets",
        "--type",
        "image_classification",
        "--classes",
        "cat,dog",
        "--overlap",
        "2",
        "--from",
        "photos@latest",
        "--instructions",
        "<b>be careful</b>",
    )
    assert made.exit_code == 0, made.output
    assert "with 4 tasks from photos@latest" in made.output and "cat [1]" in made.output
    csv = tmp_path / "more.csv"
    csv.write_text("path,label\n0.png,dog\n1.png,cat\n")
    imported = run(
        "label",
        "import",
        "pets",
        str(csv),
        "--format",
        "csv",
        "--images",
        str(images),
        "--mode",
        "gold",
    )
    assert imported.exit_code == 0 and "imported 2 tasks" in imported.output
    assert run("label", "assign", "pets", "--to", "ada", "--role", "annotator").exit_code == 0
    assigned = run("label", "assign", "pets", "--to", "@night", "--open", "2")
    assert assigned.exit_code == 0 and "assigned 2 tasks to @night" in assigned.output
    assert run("label", "assign", "pets", "--group", "night", "--members", "ada,bob").exit_code == 0
    store = open_store(str(tmp_path / ".stackml"))
    try:
        for user, flip in (("ada", False), ("bob", True)):
            for task in sl.next_tasks("pets", user=user, limit=10, store=store):
                cls = task.data.get("field.label") or (task.gold or {}).get("class") or "cat"
                if flip and task.id % 2:
                    cls = "dog" if cls == "cat" else "cat"
                sl.submit(task.id, {"class": cls}, user=user, duration_ms=1200, store=store)
    finally:
        store.close()
    status = run("label", "status", "pets")
    assert (
        status.exit_code == 0 and "6 (100%)" in status.output and "ada: 6 labels" in status.output
    )
    agreement = run("label", "agreement", "pets")
    assert (
        agreement.exit_code == 0
        and "agreement" in agreement.output
        and "ada~bob" in agreement.output
    )
    assert "1.00" in agreement.output  # ada's gold accuracy
    out = tmp_path / "labels"
    files = run("label", "export", "pets", "--out", str(out), "--format", "labelstudio")
    assert files.exit_code == 0 and len(json.loads((out / "labelstudio.json").read_text())) == 6
    exported = run("label", "export", "pets", "--consensus", "weighted", "-m", "first labels")
    assert exported.exit_code == 0 and "pets-labels@v1" in exported.output, exported.output
    store = open_store(str(tmp_path / ".stackml"))
    try:
        version = sd.resolve("pets-labels", store=store)
        edges = store.metadata.list_lineage("dataset_version", version.ref, direction="upstream")
        assert ("dataset_version", source.ref) in {(e.source_type, e.source_id) for e in edges}
    finally:
        store.close()


def test_bad_input_fails_cleanly(tmp_path: Path) -> None:
    result = run("label", "create", "x", "--type", "sculpture", "--classes", "a")
    assert result.exit_code == 1 and "unknown task type" in result.stderr
    assert "Traceback" not in result.output
    missing = run("label", "status", "nope")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert run("label", "export", "nope", "--machine", "sometimes").exit_code == 1
    assert run("label", "--help").exit_code == 0


def test_rank_and_autolabel_with_a_registered_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI wraps ``stackml.registry.load`` into the callable labeling takes."""
    import numpy as np

    import stackml.registry
    from stackml.registry.runtime import Predictor
    from stackml.registry.signature import Signature, TensorSpec

    class Brightness(Predictor):
        """Class 1 for bright images: confident at the extremes, unsure in the middle."""

        runtime = "fake"

        def predict(self, inputs: object) -> dict[str, np.ndarray]:
            mean = np.asarray(inputs, dtype=float).reshape(len(inputs), -1).mean(axis=1)  # type: ignore[arg-type]
            logits = np.stack([(0.5 - mean) * 40, (mean - 0.5) * 40], axis=1)
            return {"logits": logits}

    signature = Signature(
        inputs=(TensorSpec("x", "float32", (-1, 1, 8, 8)),),
        outputs=(TensorSpec("logits", "float32", (-1, 2)),),
        task="classification",
        classes=("dark", "bright"),
    )
    loaded: list[str] = []

    def fake_load(ref: str, *, store: object = None, trust: bool = False) -> Predictor:
        loaded.append(ref)
        return Brightness(signature, name="bright", version=1)

    monkeypatch.setattr(stackml.registry, "load", fake_load)
    from PIL import Image

    store = open_store(str(tmp_path / ".stackml"))
    sl.create_project("lum", "image_classification", ["dark", "bright"], store=store)
    shades = [0, 250, 120, 135, 10, 240]
    items = []
    for i, shade in enumerate(shades):
        path = tmp_path / f"{i}.png"
        Image.new("L", (16, 16), color=shade).save(path)
        items.append({"image_path": str(path), "key": str(i)})
    ids = sl.add_tasks("lum", items, store=store)
    store.close()
    ranked = run("label", "rank", "lum", "--model", "bright@production", "--strategy", "entropy")
    assert ranked.exit_code == 0, ranked.output
    assert loaded == ["bright@production"]
    store = open_store(str(tmp_path / ".stackml"))
    try:
        first = sl.next_tasks("lum", user="ada", limit=2, store=store)
        assert {t.id for t in first} == {ids[2], ids[3]}  # the mid-grey, uncertain ones
        for t in first:
            sl.skip(t.id, "later", user="ada", store=store)
    finally:
        store.close()
    auto = run(
        "label", "autolabel", "lum", "--model", "bright@1", "--threshold", "0.99", "--audit", "0"
    )
    assert auto.exit_code == 0 and "4 machine labels" in auto.output, auto.output
    store = open_store(str(tmp_path / ".stackml"))
    try:
        machine = {a.task_id: a.value["class"] for a in sl.all_annotations(store, "lum")}
        assert machine == {ids[0]: "dark", ids[1]: "bright", ids[4]: "dark", ids[5]: "bright"}
    finally:
        store.close()
