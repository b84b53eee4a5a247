"""PyTorch and scikit-learn formats: round trips, embeddings, references, hashes, trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stackml.errors import IntegrityError, InvalidInput
from stackml.registry.formats import (
    UntrustedModel,
    check_parity,
    infer_signature,
    load_predictor,
    save_model,
)
from tests.registry_formats.conftest import CLASSES, Digits


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript", "torch-export", "pickle"])
def test_torch_formats_round_trip(fmt: str, mlp: Any, digits: Digits, tmp_path: Path) -> None:
    files = save_model(
        mlp,
        tmp_path,
        format=fmt,
        example=digits.x_test[:8],
        classes=CLASSES,
        kwargs={"hidden": 128},
    )
    assert all((tmp_path / f).is_file() for f in files.files)
    predictor = load_predictor(fmt, tmp_path, files.meta, trust=True, name="digits", version=3)
    assert (predictor.name, predictor.version, predictor.runtime) == ("digits", 3, "torch")
    for batch in (1, 32):
        assert predictor.predict(digits.x_test[:batch])["logits"].shape == (batch, 10)
    report = check_parity(mlp, predictor, digits.x_test)
    assert report.max_abs_diff < 1e-5 and report.agreement == 1.0
    assert predictor.embed(digits.x_test[:4]).shape == (4, 128)
    assert predictor.signature.classes == tuple(CLASSES)


def test_torch_export_and_pickle_need_trust(mlp: Any, digits: Digits, tmp_path: Path) -> None:
    for fmt in ("torch-export", "pickle"):
        files = save_model(mlp, tmp_path / fmt, format=fmt, example=digits.x_test[:4])
        with pytest.raises(UntrustedModel, match="trust=True"):
            load_predictor(fmt, tmp_path / fmt, files.meta)


def test_sequential_needs_a_factory_and_marked_factories_load(
    digits: Digits, tmp_path: Path
) -> None:
    from tests.registry_formats.nets import tiny_cnn, unmarked_factory

    model = tiny_cnn().eval()
    with pytest.raises(InvalidInput, match="factory="):
        save_model(model, tmp_path / "a", format="safetensors", example=digits.x_test[:4])
    files = save_model(
        model, tmp_path / "b", format="safetensors", example=digits.x_test[:4], factory=tiny_cnn
    )
    assert files.meta["reference"] == "tests.registry_formats.nets:tiny_cnn"
    predictor = load_predictor("safetensors", tmp_path / "b", files.meta)
    assert predictor.embed(digits.x_test[:2]).shape == (2, 64)  # Sequential ending in Linear
    files = save_model(
        model,
        tmp_path / "c",
        format="safetensors",
        example=digits.x_test[:4],
        factory=unmarked_factory,
    )
    with pytest.raises(UntrustedModel, match=r"neither an nn\.Module class"):
        load_predictor("safetensors", tmp_path / "c", files.meta)
    assert load_predictor("safetensors", tmp_path / "c", files.meta, trust=True).predict(
        digits.x_test[:2]
    )


def test_a_reference_to_arbitrary_code_is_never_called(
    mlp: Any, digits: Digits, tmp_path: Path
) -> None:
    files = save_model(mlp, tmp_path, format="safetensors", example=digits.x_test[:4])
    marker = tmp_path / "ran"
    meta = {**files.meta, "reference": "os:system", "kwargs": {"command": f"touch {marker}"}}
    with pytest.raises(UntrustedModel):
        load_predictor("safetensors", tmp_path, meta)
    assert not marker.exists()
    with pytest.raises(InvalidInput, match="invalid class reference"):
        load_predictor("safetensors", tmp_path, {**files.meta, "reference": "os.system; rm"})
    with pytest.raises(InvalidInput, match="cannot import"):
        load_predictor("safetensors", tmp_path, {**files.meta, "reference": "no_such_pkg:Net"})


def test_local_classes_cannot_be_referenced(digits: Digits, tmp_path: Path) -> None:
    from torch import nn

    class Local(nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x.flatten(1)

    with pytest.raises(InvalidInput, match="top level of an importable module"):
        save_model(Local(), tmp_path, format="safetensors", example=digits.x_test[:2])


def test_changed_weights_fail_the_hash(mlp: Any, digits: Digits, tmp_path: Path) -> None:
    files = save_model(mlp, tmp_path, format="safetensors", example=digits.x_test[:4])
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"model\.safetensors"):
        load_predictor("safetensors", tmp_path, files.meta)
    with pytest.raises(InvalidInput, match="model file"):
        load_predictor("safetensors", tmp_path, {**files.meta, "hashes": {"../x": "0" * 64}})


def test_pickle_bomb_runs_only_with_trust(tmp_path: Path) -> None:
    from tests.registry_formats.nets import PickleBomb

    marker = tmp_path / "marker.txt"
    files = save_model(PickleBomb(str(marker)), tmp_path / "m", format="pickle")
    sig = infer_signature_for_table()
    with pytest.raises(UntrustedModel, match="pickle"):
        load_predictor("pickle", tmp_path / "m", files.meta, sig)
    assert not marker.exists()
    with pytest.raises(UntrustedModel):
        load_predictor("pickle", tmp_path / "m", files.meta, sig, trust=False)
    assert not marker.exists()
    load_predictor("pickle", tmp_path / "m", files.meta, sig, trust=True)
    assert marker.read_text() == "executed"


def infer_signature_for_table() -> Any:
    from stackml.registry.signature import Signature, TensorSpec

    return Signature(inputs=(TensorSpec("input", "float32", (-1, 4)),), outputs=())


def test_sklearn_onnx_matches_scikit_learn(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    x = x.astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    sig = infer_signature(model, x[:4])
    assert sig.task == "classification" and sig.classes == ("0", "1", "2")
    files = save_model(model, tmp_path / "onnx", format="sklearn-onnx", example=x)
    onnx_pred = load_predictor("sklearn-onnx", tmp_path / "onnx", files.meta)
    out = onnx_pred.predict(x)
    assert set(out) == {"label", "probabilities"}
    np.testing.assert_array_equal(out["label"], model.predict(x))
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(x), atol=1e-4)
    assert onnx_pred.predict(x[:1])["probabilities"].shape == (1, 3)
    with pytest.raises(NotImplementedError):
        onnx_pred.embed(x[:2])
    pickled = save_model(model, tmp_path / "pkl", format="pickle", example=x)
    py_pred = load_predictor("pickle", tmp_path / "pkl", pickled.meta, trust=True)
    np.testing.assert_array_equal(py_pred.predict(x)["label"], model.predict(x))
