"""int8 quantization of ONNX models with ONNX Runtime's quantization tools.

Both functions run ``quant_pre_process`` first (shape inference and graph clean-up, as ONNX
Runtime recommends), then:

* :func:`quantize_dynamic`: int8 weights, activations quantized on the fly per batch; only
  ``MatMul``/``Gemm`` by default (dense layers, where it pays; dynamic ``Conv`` is slow);
* :func:`quantize_static`: QDQ format, int8 weights per channel, activation ranges calibrated
  (MinMax) on a dataset split, for ``Conv``/``MatMul``/``Gemm`` (the soft-max stays float so
  probabilities keep their precision).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stackml.errors import InvalidInput

__all__ = ["quantize_dynamic", "quantize_static"]

DYNAMIC_OPS = ("MatMul", "Gemm")
STATIC_OPS = ("Conv", "MatMul", "Gemm")


def _pre_process(source: Path, tmp: Path) -> Path:
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not Path(source).is_file():
        raise InvalidInput(f"no ONNX file at {source}")
    out = tmp / "pre.onnx"
    try:
        quant_pre_process(str(source), str(out), skip_symbolic_shape=True)
    except Exception as exc:  # onnx/onnxruntime raise untyped errors on malformed graphs
        raise InvalidInput(
            f"{Path(source).name} cannot be prepared for quantization: {exc}"
        ) from exc
    return out


def quantize_dynamic(
    onnx_path: str | Path,
    out: str | Path,
    *,
    op_types: Sequence[str] = DYNAMIC_OPS,
    per_channel: bool = False,
) -> Path:
    """Write a dynamically int8-quantized copy of ``onnx_path`` to ``out``; returns ``out``."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stackml-quant-") as tmp:
        pre = _pre_process(Path(onnx_path), Path(tmp))
        ort_quantize_dynamic(
            str(pre),
            str(out),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
        )
    return out


def _reader(name: str, data: np.ndarray, batch_size: int) -> Any:
    """Calibration batches as ONNX Runtime's ``CalibrationDataReader``."""
    from onnxruntime.quantization import CalibrationDataReader

    class Batches(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._iter: Iterator[dict[str, np.ndarray]] = (
                {name: np.ascontiguousarray(data[i : i + batch_size], dtype=np.float32)}
                for i in range(0, len(data), batch_size)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._iter, None)

    return Batches()


def quantize_static(
    onnx_path: str | Path,
    out: str | Path,
    calibration: np.ndarray,
    *,
    input_name: str | None = None,
    op_types: Sequence[str] = STATIC_OPS,
    per_channel: bool = True,
    batch_size: int = 64,
) -> Path:
    """Write a statically int8-quantized (QDQ) copy of ``onnx_path`` to ``out``.

    Args:
        onnx_path: The float model.
        out: Where to write the int8 model.
        calibration: Representative inputs (e.g. the validation split), batch first.
        input_name: The graph input to feed (default the only one).
        op_types: Operator types to quantize.
        per_channel: One scale per output channel of each weight (more accurate).
        batch_size: Rows per calibration batch.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
    )
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    calibration = np.asarray(calibration)
    if calibration.ndim < 2 or len(calibration) == 0:
        raise InvalidInput("calibration data must be a non-empty batch of inputs")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stackml-quant-") as tmp:
        pre = _pre_process(Path(onnx_path), Path(tmp))
        inputs = [i.name for i in onnx.load(str(pre), load_external_data=False).graph.input]
        name = input_name or (inputs[0] if len(inputs) == 1 else None)
        if name is None or name not in inputs:
            raise InvalidInput(f"name the input to calibrate: the graph takes {inputs}")
        ort_quantize_static(
            str(pre),
            str(out),
            _reader(name, calibration, batch_size),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return out
