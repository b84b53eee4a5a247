"""``TorchPredictor``: a :class:`~stackml.registry.runtime.Predictor` running a PyTorch module.

The module follows the output convention of :mod:`stackml.registry.formats._torch_wrap`: it
returns a tuple of tensors named by ``output_names`` (``logits``, ``probabilities``,
``embedding``...). Calls run in eval mode under ``torch.inference_mode``, on CPU unless a
device is given. Concurrent ``predict`` calls are safe: inference keeps no state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from stackml.registry.formats._base import prepare_feeds
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature

__all__ = ["TorchPredictor"]

EMBEDDING = "embedding"


class TorchPredictor(Predictor):
    """Runs a module (eager, TorchScript or ``torch.export``) that returns named outputs.

    Args:
        module: Callable on the input tensors, returning a tensor or a tuple of tensors.
        signature: The model's signature.
        output_names: Names of the module's outputs, in order.
        device: Where to run; default CPU.
        size_bytes: Size of the files the model was loaded from (for reports).
    """

    runtime = "torch"

    def __init__(
        self,
        module: Callable[..., Any],
        signature: Signature,
        *,
        output_names: Sequence[str],
        device: str = "cpu",
        size_bytes: int = 0,
        name: str = "",
        version: int = 0,
    ) -> None:
        super().__init__(signature, name=name, version=version)
        import torch

        self.device = torch.device(device)
        if isinstance(module, torch.nn.Module):
            module = module.to(self.device)
            # torch.export modules refuse eval(): they were traced in eval mode already.
            with contextlib.suppress(NotImplementedError):
                module = module.eval()
        self.module = module
        self.output_names = list(output_names)
        self.size_bytes = size_bytes

    def _run(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        feeds = prepare_feeds(self.signature, inputs)
        tensors = [torch.from_numpy(feeds[t.name]).to(self.device) for t in self.signature.inputs]
        with torch.inference_mode():
            result = self.module(*tensors)
        if isinstance(result, torch.Tensor):
            result = (result,)
        return {
            n: t.detach().float().cpu().numpy()
            for n, t in zip(self.output_names, result, strict=False)
        }

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every declared output by name (the embedding is given by :meth:`embed`)."""
        outputs = self._run(inputs)
        wanted = [o.name for o in self.signature.outputs if o.name in outputs]
        if not wanted:
            wanted = [n for n in outputs if n != EMBEDDING]
        return {n: outputs[n] for n in wanted}

    def embed(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """The penultimate representation, ``(N, D)``."""
        if EMBEDDING not in self.output_names:
            raise NotImplementedError(
                "this model exposes no embedding: use an nn.Sequential ending in nn.Linear, or "
                "define embed(x) and head(embedding) on the model"
            )
        return self._run(inputs)[EMBEDDING]
