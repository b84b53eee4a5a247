"""int8 quantization, magnitude pruning and distillation on the digits MLP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stackml.errors import InvalidInput
from stackml.registry.compare import compare, predicted_labels, report_table
from stackml.registry.compression import distill, prune, quantize_dynamic, quantize_static, sparsity
from stackml.registry.formats import load_predictor, save_model
from tests.registry_formats.conftest import Digits, accuracy


def _acc(predictor: Any, digits: Digits) -> float:
    return float(np.mean(predicted_labels(predictor, digits.x_test) == digits.y_test.astype(str)))


@pytest.mark.parametrize("method", ["dynamic", "static"])
def test_int8_is_smaller_and_keeps_accuracy(
    method: str, onnx_dir: tuple[Path, Any], digits: Digits, tmp_path: Path
) -> None:
    folder, files = onnx_dir
    out = tmp_path / "int8" / "model.onnx"
    if method == "dynamic":
        quantize_dynamic(folder / "model.onnx", out)
    else:
        quantize_static(folder / "model.onnx", out, digits.x_train[:256])
    q_files = save_model(out, tmp_path / "saved", format="onnx")
    assert (tmp_path / "saved" / "model.onnx").stat().st_size < (
        folder / "model.onnx"
    ).stat().st_size / 2.5
    original = load_predictor("onnx", folder, files.meta)
    quantized = load_predictor("onnx", tmp_path / "saved", {**q_files.meta}, original.signature)
    assert quantized.predict(digits.x_test[:32])["logits"].shape == (32, 10)
    assert _acc(quantized, digits) >= _acc(original, digits) - 0.02
    assert quantized.embed(digits.x_test[:2]).shape == (2, 128)


def test_static_quantization_needs_calibration_rows(
    onnx_dir: tuple[Path, Any], tmp_path: Path
) -> None:
    folder, _ = onnx_dir
    with pytest.raises(InvalidInput, match="calibration"):
        quantize_static(folder / "model.onnx", tmp_path / "q.onnx", np.zeros((0, 1, 8, 8)))
    with pytest.raises(InvalidInput, match="no ONNX file"):
        quantize_dynamic(tmp_path / "missing.onnx", tmp_path / "q.onnx")


def test_pruning_reaches_the_sparsity_and_fine_tuning_keeps_it(mlp: Any, digits: Digits) -> None:
    from tests.registry_formats.conftest import train

    before = accuracy(mlp, digits.x_test, digits.y_test)
    result = prune(mlp, 0.5, fine_tune=lambda m: train(m, digits, epochs=1, lr=1e-3))
    assert result.sparsity == pytest.approx(0.5, abs=0.01)
    assert sparsity(result.model) == pytest.approx(0.5, abs=0.01)
    assert not any(name.endswith("_orig") for name, _ in result.model.named_parameters())
    assert sparsity(mlp) < 0.01  # the original is untouched
    assert accuracy(result.model, digits.x_test, digits.y_test) >= before - 0.03
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        prune(mlp, 1.5)


def test_distilled_student_is_smaller_and_learns(mlp: Any, digits: Digits) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    student = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    result = distill(
        mlp,
        student,
        (digits.x_train, digits.y_train),
        val=(digits.x_test, digits.y_test),
        epochs=8,
        lr=1e-2,
    )
    n_student = sum(p.numel() for p in student.parameters())
    n_teacher = sum(p.numel() for p in mlp.parameters())
    assert n_student * 4 <= n_teacher
    assert len(result.history) == 8 and "val/accuracy" in result.history[-1]
    assert accuracy(student, digits.x_test, digits.y_test) >= 0.9 * accuracy(
        mlp, digits.x_test, digits.y_test
    )


def test_compare_report(onnx_dir: tuple[Path, Any], digits: Digits, tmp_path: Path) -> None:
    folder, files = onnx_dir
    quantize_dynamic(folder / "model.onnx", tmp_path / "q" / "model.onnx")
    original = load_predictor("onnx", folder, files.meta, name="digits", version=1)
    quantized = load_predictor(
        "onnx", tmp_path / "q", {}, original.signature, name="digits", version=2
    )
    report = compare([original, quantized], (digits.x_test, digits.y_test), repeats=5)
    first, second = report.rows
    assert (first.label, second.label) == ("digits@1", "digits@2")
    assert first.agreement == 1.0 and 0.9 <= second.agreement <= 1.0
    assert second.size_bytes < first.size_bytes
    assert set(first.p50_ms) == {1, 32} and all(v > 0 for v in first.p99_ms.values())
    assert 0.8 < first.accuracy <= 1.0
    table = report_table(report)
    assert table.row_count == 2 and "p50/p99 ms @32" in [c.header for c in table.columns]
    assert report.to_dict()["rows"][1]["label"] == "digits@2"
