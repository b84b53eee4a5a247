"""``OnnxPredictor``: a :class:`~stackml.registry.runtime.Predictor` on ONNX Runtime (CPU).

One ``InferenceSession`` per predictor, created with all graph optimisations, sequential
execution and one inter-op thread; intra-op threads default to ONNX Runtime's choice (the
physical cores) and can be capped with ``threads``. ``InferenceSession.run`` is thread-safe,
so one predictor serves concurrent requests. Works on ``.onnx`` and ``.ort`` files alike.

Embeddings come from an extra graph output named ``embedding`` that the exporter adds
(see :mod:`stackml.registry.formats._torch_wrap`); it is left out of :meth:`predict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stackml.errors import InvalidInput
from stackml.registry.formats._base import prepare_feeds
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature

__all__ = ["OnnxPredictor", "session_options"]

EMBEDDING = "embedding"


def session_options(threads: int | None = None) -> Any:
    """CPU session options: full graph optimisation, sequential, ``threads`` intra-op.

    With ``threads`` given (the cores are shared out between several calls at once), idle
    intra-op threads sleep instead of spinning, so they do not take the cores the other calls
    and a server's event loop need. Otherwise ONNX Runtime's default stands: its threads spin
    briefly between operators, which saves a wake-up per parallel operator (a served
    24-layer MLP answered a lone client about 30% faster than with spinning off, and as fast
    or faster at high load with one model call at a time).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = int(threads)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are noise to users
    return options


class OnnxPredictor(Predictor):
    """Runs an ``.onnx`` or ``.ort`` file with ONNX Runtime's CPU provider.

    Args:
        path: The model file.
        signature: The model's signature; inputs are checked and cast against it.
        threads: Intra-op threads (default: ONNX Runtime's choice).
        size_bytes: Size of the model files (for reports); default the file's size.
    """

    runtime = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        signature: Signature,
        *,
        threads: int | None = None,
        size_bytes: int | None = None,
        name: str = "",
        version: int = 0,
    ) -> None:
        super().__init__(signature, name=name, version=version)
        import onnxruntime as ort

        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(
                str(self.path),
                sess_options=session_options(threads),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors on bad files
            raise InvalidInput(
                f"ONNX Runtime cannot load {self.path.name}: {str(exc).splitlines()[0][:300]}"
            ) from exc
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_names = [i.name for i in self.session.get_inputs()]
        missing = [t.name for t in signature.inputs if t.name not in self.input_names]
        if missing:
            raise InvalidInput(
                f"the signature names inputs {missing} but the graph takes {self.input_names}"
            )
        self.size_bytes = self.path.stat().st_size if size_bytes is None else size_bytes

    def _run(self, inputs: np.ndarray | Mapping[str, np.ndarray], names: list[str]) -> list[Any]:
        feeds = prepare_feeds(self.signature, inputs)
        try:
            return list(self.session.run(names, feeds))
        except Exception as exc:  # a shape the graph cannot take: a caller's mistake
            raise InvalidInput(
                f"the model refused the input: {str(exc).splitlines()[0][:300]}"
            ) from exc

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every declared output by name (the embedding is given by :meth:`embed`)."""
        wanted = [o.name for o in self.signature.outputs if o.name in self.output_names]
        if not wanted:
            wanted = [n for n in self.output_names if n != EMBEDDING]
        return dict(zip(wanted, (np.asarray(v) for v in self._run(inputs, wanted)), strict=True))

    def embed(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """The graph's ``embedding`` output, ``(N, D)``."""
        if EMBEDDING not in self.output_names:
            raise NotImplementedError("this ONNX graph has no 'embedding' output")
        return np.asarray(self._run(inputs, [EMBEDDING])[0])
