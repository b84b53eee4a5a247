"""ONNX export: dynamic batch, checker, parity with PyTorch, ORT format, embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from stackml.errors import IntegrityError, InvalidInput
from stackml.registry.formats import check_parity, load_predictor, save_model
from tests.registry_formats.conftest import Digits


def test_checker_passes_and_batch_is_dynamic(onnx_dir: tuple[Path, Any]) -> None:
    folder, files = onnx_dir
    proto = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value")
    assert files.meta["outputs"] == ["logits", "probabilities", "embedding"]
    assert files.meta["opset"] >= 17


@pytest.mark.parametrize("batch", [1, 32])
def test_predicts_batch_1_and_32(onnx_dir: tuple[Path, Any], digits: Digits, batch: int) -> None:
    folder, files = onnx_dir
    predictor = load_predictor("onnx", folder, files.meta)
    out = predictor.predict(digits.x_test[:batch])
    assert set(out) == {"logits", "probabilities"}
    assert out["logits"].shape == (batch, 10)
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
    assert predictor.embed(digits.x_test[:batch]).shape == (batch, 128)
    assert predictor.runtime == "onnxruntime"


def test_parity_with_pytorch_on_the_test_split(
    onnx_dir: tuple[Path, Any], mlp: Any, digits: Digits
) -> None:
    folder, files = onnx_dir
    predictor = load_predictor("onnx", folder, files.meta)
    report = check_parity(mlp, predictor, digits.x_test, atol=1e-4)
    assert report.passed and report.max_abs_diff < 1e-4
    assert report.agreement == 1.0 and report.rows == len(digits.x_test)
    assert files.meta["parity"]["max_abs_diff"] < 1e-4


def test_parity_detects_a_different_model(onnx_dir: tuple[Path, Any], digits: Digits) -> None:
    import torch

    from tests.registry_formats.nets import DigitsMLP

    folder, files = onnx_dir
    torch.manual_seed(1)
    other = DigitsMLP(hidden=128).eval()
    report = check_parity(other, load_predictor("onnx", folder, files.meta), digits.x_test[:64])
    assert not report.passed and report.max_abs_diff > 1e-2


def test_inputs_are_checked(onnx_dir: tuple[Path, Any]) -> None:
    folder, files = onnx_dir
    predictor = load_predictor("onnx", folder, files.meta)
    with pytest.raises(InvalidInput, match="dimension"):
        predictor.predict(np.zeros((2, 1, 8, 9), np.float32))
    with pytest.raises(InvalidInput, match="unknown inputs"):
        predictor.predict({"input": np.zeros((1, 1, 8, 8)), "extra": np.zeros(1)})
    assert predictor.predict(np.zeros((3, 1, 8, 8), np.float64))["logits"].dtype == np.float32


def test_changed_file_fails_its_hash(onnx_dir: tuple[Path, Any], tmp_path: Path) -> None:
    folder, files = onnx_dir
    copy = tmp_path / "copy"
    copy.mkdir()
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match its recorded hash"):
        load_predictor("onnx", copy, files.meta)


def test_ort_format_matches_onnx(
    onnx_dir: tuple[Path, Any], digits: Digits, tmp_path: Path
) -> None:
    folder, files = onnx_dir
    ort_files = save_model(folder / "model.onnx", tmp_path / "ort", format="ort")
    assert ort_files.files == ("model.ort",)
    assert (tmp_path / "ort" / "model.ort").read_bytes()[4:8] == b"ORTM"
    ort_pred = load_predictor("ort", tmp_path / "ort", ort_files.meta)
    onnx_pred = load_predictor("onnx", folder, files.meta)
    report = check_parity(onnx_pred, ort_pred, digits.x_test, atol=1e-4)
    assert report.passed and report.agreement == 1.0
    assert ort_pred.predict(digits.x_test[:1])["logits"].shape == (1, 10)


def test_unknown_format_and_bad_onnx_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"unknown model format 'h5'.*onnx"):
        save_model(object(), tmp_path, format="h5")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidInput, match="not a valid ONNX model"):
        save_model(bad, tmp_path / "out", format="onnx")


def test_predictors_serve_concurrent_calls(
    onnx_dir: tuple[Path, Any], mlp: Any, digits: Digits
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from stackml.registry.formats._torch_wrap import OutputWrapper
    from stackml.registry.torch_runtime import TorchPredictor

    folder, files = onnx_dir
    onnx_pred = load_predictor("onnx", folder, files.meta)
    wrapper = OutputWrapper(mlp, classification=True)
    torch_pred = TorchPredictor(wrapper, onnx_pred.signature, output_names=wrapper.names)
    chunks = [digits.x_test[i : i + 7] for i in range(0, 140, 7)]
    for predictor in (onnx_pred, torch_pred):
        expected = [predictor.predict(c)["logits"] for c in chunks]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda c, p=predictor: p.predict(c)["logits"], chunks * 3))
        for i, out in enumerate(got):
            np.testing.assert_allclose(out, expected[i % len(chunks)], rtol=1e-5, atol=1e-6)
