"""``Predictor``: a loaded model version that predicts on batches, on onnxruntime or torch.

:func:`stackml.registry.load` returns one. Serving, monitoring, labeling's active learning and
``stackml models compare`` all call models through this one small interface:

* :attr:`Predictor.signature` describes inputs and outputs (:mod:`stackml.registry.signature`);
* :meth:`Predictor.predict` takes batch-first arrays and returns every output by name;
* :meth:`Predictor.embed` optionally returns per-row embeddings (for diversity sampling and
  embedding drift); runtimes that cannot give them raise ``NotImplementedError``.

Implementations live beside this base, one per module (``onnx_runtime.py``, ``torch_runtime.py``).
They are thread-safe for concurrent ``predict`` calls.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import numpy as np

from stackml.registry.signature import Signature

__all__ = ["Predictor"]


class Predictor(abc.ABC):
    """A model ready to predict. ``name``/``version`` say which registry version it is."""

    #: ``"onnxruntime"`` or ``"torch"``.
    runtime: str = ""

    def __init__(self, signature: Signature, *, name: str = "", version: int = 0) -> None:
        self.signature = signature
        self.name = name
        self.version = version

    @abc.abstractmethod
    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on one batch. A bare array feeds the only input.

        Returns every output by name, batch-first, with as many rows as the input.
        Raises :class:`~stackml.errors.InvalidInput` when inputs do not fit the signature.
        """

    def embed(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-row embeddings ``(N, D)``; not every model can give them."""
        raise NotImplementedError(f"{type(self).__name__} gives no embeddings")

    def warm_up(self) -> None:
        """Run one batch of zeros so the first request does not pay for lazy initialisation."""
        spec = self.signature.inputs
        self.predict(
            {t.name: np.zeros([1 if d == -1 else d for d in t.shape], t.dtype) for t in spec}
        )
