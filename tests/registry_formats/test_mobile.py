"""Optional edge formats: ExecuTorch runs here; Core ML converts here (runs on Apple only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stackml.errors import InvalidInput
from stackml.registry.formats import check_parity, load_predictor, save_model
from tests.registry_formats.conftest import CLASSES, Digits


@pytest.mark.slow
def test_executorch_pte_runs_with_the_executorch_runtime(
    mlp: Any, digits: Digits, tmp_path: Path
) -> None:
    pytest.importorskip("executorch.exir")
    files = save_model(
        mlp, tmp_path, format="executorch", example=digits.x_test[:8], classes=CLASSES
    )
    assert files.files == ("model.pte",) and files.meta["delegate"] == "xnnpack"
    predictor = load_predictor("executorch", tmp_path, files.meta)
    for batch in (1, 32):
        assert predictor.predict(digits.x_test[:batch])["logits"].shape == (batch, 10)
    assert check_parity(mlp, predictor, digits.x_test[:64], atol=1e-4).passed
    assert predictor.embed(digits.x_test[:2]).shape == (2, 128)


@pytest.mark.slow
def test_coreml_converts_but_does_not_run_here(mlp: Any, digits: Digits, tmp_path: Path) -> None:
    pytest.importorskip("coremltools")
    files = save_model(mlp, tmp_path, format="coreml", example=digits.x_test[:8], classes=CLASSES)
    assert any(f.endswith(".mlmodel") for f in files.files)
    assert all((tmp_path / f).is_file() for f in files.files)
    with pytest.raises(InvalidInput, match="macOS and iOS"):
        load_predictor("coreml", tmp_path, files.meta)
