"""Export and compression through the registry: new versions, lineage edges, load, CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from stackml.errors import InvalidInput
from stackml.store import Store
from tests.registry_formats.conftest import CLASSES, Digits


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    import stackml.tracking as tracking

    opened = tracking.get_store(str(tmp_path / "store"))
    yield opened
    tracking.reset()


def _uri(store: Store) -> str:
    return str(store.location.root.parent)  # type: ignore[union-attr]


@pytest.fixture
def registered(store: Store, mlp: Any, digits: Digits) -> str:
    """digits@1: the MLP as safetensors, logged by a run and registered."""
    import stackml
    from stackml.registry import log_model

    with stackml.start_run(
        project="digits", tracking_uri=_uri(store), capture_environment=False
    ) as run:
        run.log_metrics({"test_accuracy": 0.95})
        logged = log_model(
            run,
            mlp,
            "model",
            format="safetensors",
            example=digits.x_test[:8],
            classes=CLASSES,
            kwargs={"hidden": 128},
            register_as="digits",
        )
    assert logged.version is not None
    return logged.version.ref


def _edges(store: Store, ref: str) -> set[tuple[str, str]]:
    return {
        (e.source_id, e.role)
        for e in store.metadata.list_lineage("model_version", ref, direction="upstream")
        if e.source_type == "model_version"
    }


def test_export_compress_load_and_compare(
    store: Store, registered: str, digits: Digits, tmp_path: Path
) -> None:
    from stackml.registry import load
    from stackml.registry.compression import compress
    from stackml.registry.formats.convert import export

    with pytest.raises(InvalidInput, match="export it first"):
        compress(registered, "int8-dynamic", store=store)

    onnx_version = export(registered, "onnx", store=store, example=digits.x_test[:8])
    assert (onnx_version.ref, onnx_version.format) == ("digits@2", "onnx")
    assert onnx_version.source_version == "digits@1"
    assert ("digits@1", "exported_from") in _edges(store, "digits@2")

    int8 = compress("digits@2", "int8-dynamic", store=store)
    assert (int8.ref, int8.source_version, int8.format) == ("digits@3", "digits@2", "onnx")
    assert ("digits@2", "compressed_from") in _edges(store, "digits@3")
    assert int8.size_bytes * 2.5 < onnx_version.size_bytes

    pruned = compress(
        "digits@1",
        "prune",
        store=store,
        amount=0.5,
        data=(digits.x_train, digits.y_train),
        fine_tune_epochs=1,
        format="safetensors",
    )
    assert pruned.format == "safetensors"
    assert pruned.metrics["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert ("digits@1", "compressed_from") in _edges(store, pruned.ref)

    pruned_model = load(pruned.ref, store=store)
    assert pruned_model.embed(digits.x_test[:2]).shape == (2, 128)  # hidden=128 carried over
    predictor = load("digits@3", store=store)
    assert predictor.predict(digits.x_test[:32])["probabilities"].shape == (32, 10)
    assert predictor.signature.classes == tuple(CLASSES)

    data = tmp_path / "test.npz"
    np.savez(data, x=digits.x_test.reshape(len(digits.x_test), 64), y=digits.y_test)
    from stackml.cli.main import app

    runner = CliRunner()
    base = ["--tracking-uri", _uri(store), "models"]
    result = runner.invoke(
        app,
        [*base, "compare", "digits@2", "digits@3", "--data", str(data), "--repeats", "3", "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [r["label"] for r in rows] == ["digits@2", "digits@3"]
    assert rows[1]["size_bytes"] < rows[0]["size_bytes"] and rows[1]["agreement"] > 0.9
    assert rows[0]["accuracy"] > 0.8
    table = runner.invoke(
        app, [*base, "compare", "digits@2", "digits@3", "--data", str(data), "--repeats", "2"]
    )
    assert table.exit_code == 0 and "agreement" in table.output and "digits@3" in table.output

    out = runner.invoke(
        app, [*base, "export", "digits@2", "--format", "ort", "--out", str(tmp_path / "mobile")]
    )
    assert out.exit_code == 0, out.output
    assert (tmp_path / "mobile" / "model.ort").is_file()
    bad = runner.invoke(app, [*base, "compress", "digits@2", "--method", "zip"])
    assert bad.exit_code == 1 and "unknown compression method" in bad.output

    _static_int8_and_distillation(store, digits)


def _static_int8_and_distillation(store: Store, digits: Digits) -> None:
    import torch
    from torch import nn

    from stackml.registry.compression import compress

    static = compress(
        "digits@2", "int8-static", store=store, data=(digits.x_train[:200], digits.y_train[:200])
    )
    assert static.tags["method"] == "int8-static" and static.source_version == "digits@2"
    torch.manual_seed(0)
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    distilled = compress(
        "digits@2",
        "distill",
        store=store,
        student=student,
        data=(digits.x_train, digits.y_train),
        val=(digits.x_test, digits.y_test),
        epochs=6,
    )
    assert distilled.metrics["val_accuracy"] > 0.8
    assert distilled.size_bytes * 4 < store.metadata.get_model_version("digits", 2).size_bytes
    assert distilled.signature["extra"]["embedding_dim"] == 32
