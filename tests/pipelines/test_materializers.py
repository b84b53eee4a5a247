"""Materializers: each type round-trips through the blob store; pickle only on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import stackml
from stackml.errors import InvalidInput
from stackml.pipelines import MaterializeContext, Materializer, Stored, register_materializer
from stackml.pipelines.materializers import get_materializer, materializer_for
from stackml.store import Store


def _roundtrip(store: Store, value: Any, tmp_path: Path, **kw: Any) -> tuple[str, Any]:
    ctx = MaterializeContext(store, tmp_path / "scratch")
    m = materializer_for(value, **kw)
    stored = m.save(value, ctx)
    return m.name, get_materializer(m.name).load(stored, ctx)


def test_builtin_materializers_round_trip(store: Store, tmp_path: Path) -> None:
    name, back = _roundtrip(store, np.arange(6).reshape(2, 3), tmp_path)
    assert name == "numpy" and back.shape == (2, 3)
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    name, back = _roundtrip(store, frame, tmp_path)
    assert name == "parquet"
    pd.testing.assert_frame_equal(back, frame)
    name, back = _roundtrip(store, pa.table({"a": [1.5]}), tmp_path)
    assert name == "parquet" and isinstance(back, pa.Table)
    name, back = _roundtrip(store, {"a": [1, 2], "b": None}, tmp_path)
    assert name == "json" and back == {"a": [1, 2], "b": None}
    name, back = _roundtrip(store, (1, "two"), tmp_path)
    assert back == (1, "two")


def test_state_dict_is_stored_as_safetensors(store: Store, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    name, back = _roundtrip(store, model.state_dict(), tmp_path)
    assert name == "safetensors" and list(back) == ["weight", "bias"]
    assert torch.equal(back["weight"], model.state_dict()["weight"])


def test_paths_are_stored_as_file_trees(store: Store, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A")
    (tree / "sub" / "b.txt").write_text("B")
    name, back = _roundtrip(store, tree, tmp_path)
    assert name == "files" and (back / "sub" / "b.txt").read_text() == "B"
    name, back = _roundtrip(store, tree / "a.txt", tmp_path)
    assert back.name == "a.txt" and back.read_text() == "A"
    with pytest.raises(InvalidInput):
        _roundtrip(store, tmp_path / "missing", tmp_path)


def test_dataset_versions_are_stored_by_reference(store: Store, tmp_path: Path) -> None:
    from stackml.data import add

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    version = add("things", folder, store=store)
    name, back = _roundtrip(store, version, tmp_path)
    assert name == "dataset" and back.id == version.id


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_pickle_only_with_opt_in(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="pickle"):
        materializer_for(Point(1))
    name, back = _roundtrip(store, Point(3), tmp_path, allow_pickle=True)
    assert name == "pickle" and back.x == 3

    @stackml.step
    def make_point() -> Point:
        return Point(1)

    @stackml.pipeline(name="no_pickle")
    def no_pickle():
        make_point()

    result = no_pickle.run(store=store)
    assert result.status == "failed" and "pickle" in result.steps["make_point"].error

    @stackml.pipeline(name="with_pickle")
    def with_pickle():
        make_point.configure(pickle=True)()

    assert with_pickle.run(store=store).output("make_point").x == 1


class PointMaterializer(Materializer):
    name = "point"

    def can_save(self, value: object) -> bool:
        return isinstance(value, Point)

    def save(self, value: Any, ctx: MaterializeContext) -> Stored:
        return Stored(ctx.store.blobs.put_bytes(str(value.x).encode()), {})

    def load(self, stored: Stored, ctx: MaterializeContext) -> Any:
        return Point(int(ctx.store.blobs.get_bytes(stored.hash)))


def test_custom_materializers_plug_in(store: Store, tmp_path: Path) -> None:
    register_materializer(PointMaterializer())
    name, back = _roundtrip(store, Point(9), tmp_path)
    assert name == "point" and back.x == 9
    with pytest.raises(InvalidInput):
        register_materializer("nope")  # type: ignore[arg-type]
