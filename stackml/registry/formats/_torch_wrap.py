"""The output convention every PyTorch-derived format shares, and signature inference.

A saved model returns a tuple of named outputs:

* a classifier: ``logits`` then ``probabilities`` (softmax, computed inside the graph);
* any other model: ``output``;
* then ``embedding`` when the model exposes a penultimate representation.

A model exposes embeddings in one of two ways (no hooks, so every exporter can trace it):

1. it is an ``nn.Sequential`` whose last layer is ``nn.Linear``: the embedding is that
   layer's input;
2. it defines ``embed(x)`` and ``head(embedding)`` methods with
   ``forward(x) == head(embed(x))``.

Models with one tensor input and one tensor output are supported.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import nn

from stackml.errors import InvalidInput
from stackml.registry.signature import Signature, TensorSpec

if TYPE_CHECKING:
    import torch

__all__ = [
    "EMBEDDING",
    "OutputWrapper",
    "embedding_mode",
    "infer_signature",
    "output_names",
    "resolve_reference",
]

EMBEDDING = "embedding"
_REFERENCE_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def embedding_mode(model: Any) -> str | None:
    """``"sequential"``, ``"methods"`` or ``None`` (see the module docstring)."""
    if callable(getattr(model, "embed", None)) and callable(getattr(model, "head", None)):
        return "methods"
    if isinstance(model, nn.Sequential) and len(model) >= 2 and isinstance(model[-1], nn.Linear):
        return "sequential"
    return None


def output_names(classification: bool, embedding: bool) -> list[str]:
    """Names of the wrapper's outputs, in order."""
    names = ["logits", "probabilities"] if classification else ["output"]
    return [*names, EMBEDDING] if embedding else names


class OutputWrapper(nn.Module):
    """Wraps a model so it returns the tuple of outputs described in the module docstring."""

    def __init__(self, model: nn.Module, *, classification: bool, embed: bool = True):
        super().__init__()
        self.model = model
        self.classification = classification
        self.mode = embedding_mode(model) if embed else None

    @property
    def names(self) -> list[str]:
        """Output names, in order."""
        return output_names(self.classification, self.mode is not None)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import torch

        model: Any = self.model  # an nn.Sequential, or a module with embed/head methods
        if self.mode == "sequential":
            embedding = model[:-1](x)
            out = model[-1](embedding)
        elif self.mode == "methods":
            embedding = model.embed(x)
            out = model.head(embedding)
        else:
            embedding, out = None, self.model(x)
        if not isinstance(out, torch.Tensor):
            raise InvalidInput(
                "the model must return one tensor (a tuple or dict is not supported)"
            )
        outputs: tuple[torch.Tensor, ...] = (
            (out, torch.softmax(out, dim=-1)) if self.classification else (out,)
        )
        if embedding is not None:
            outputs = (*outputs, embedding.flatten(1))
        return outputs


def example_tensor(example: np.ndarray | None, signature: Signature | None) -> torch.Tensor:
    """A float tensor to trace with: ``example`` or zeros shaped like the signature input."""
    import torch

    if example is not None:
        array = np.asarray(example)
        if array.ndim == 0 or len(array) == 0:
            raise InvalidInput("the example must be a non-empty batch")
        dtype = np.dtype(signature.input().dtype) if signature is not None else np.float32
        return torch.from_numpy(np.ascontiguousarray(array[: min(len(array), 8)], dtype=dtype))
    if signature is None:
        raise InvalidInput("give an example batch or a signature so the model can be traced")
    spec = signature.input()
    shape = [2 if d == -1 else d for d in spec.shape]
    return torch.zeros(shape, dtype=getattr(torch, spec.dtype))


def infer_signature(
    model: Any,
    example: np.ndarray,
    *,
    task: str | None = None,
    classes: list[str] | tuple[str, ...] | None = None,
    input_name: str = "input",
    embed: bool = True,
) -> Signature:
    """Signature of a PyTorch model from one example batch.

    ``task`` defaults to ``"classification"`` when ``classes`` are given, else ``"other"``.
    A classifier gets ``logits`` and ``probabilities`` outputs; every model with an embedding
    (see the module docstring) records its width in ``extra["embedding_dim"]``.
    """
    import torch

    task = task or ("classification" if classes else "other")
    classification = task == "classification"
    wrapper = OutputWrapper(model, classification=classification, embed=embed).eval()
    x = example_tensor(example, None)
    with torch.inference_mode():
        outs = wrapper(x)
    names = wrapper.names
    specs = tuple(
        TensorSpec(n, "float32", (-1, *tuple(int(d) for d in o.shape[1:])))
        for n, o in zip(names, outs, strict=True)
        if n != EMBEDDING
    )
    if classification and classes is None:
        classes = [str(i) for i in range(int(outs[0].shape[-1]))]
    extra: dict[str, Any] = {}
    if EMBEDDING in names:
        extra["embedding_dim"] = int(outs[-1].shape[-1])
    return Signature(
        inputs=(TensorSpec(input_name, "float32", (-1, *tuple(int(d) for d in x.shape[1:]))),),
        outputs=specs,
        task=task,
        classes=tuple(classes or ()),
        probabilities="probabilities" if classification else None,
        extra=extra,
    )


def reference_of(obj: Any) -> str:
    """``module:QualName`` of ``obj``; ``InvalidInput`` when it cannot be imported back."""
    module = getattr(obj, "__module__", None) or ""
    qualname = getattr(obj, "__qualname__", None) or ""
    ref = f"{module}:{qualname}"
    if module == "__main__" or "<locals>" in qualname or not _REFERENCE_RE.fullmatch(ref):
        raise InvalidInput(
            f"{ref!r} cannot be imported back when the model loads: define the model class "
            "(or a factory function) at the top level of an importable module"
        )
    return ref


def resolve_reference(ref: str) -> Any:
    """Import ``module:QualName``; ``InvalidInput`` when it is malformed or missing."""
    if not isinstance(ref, str) or not _REFERENCE_RE.fullmatch(ref):
        raise InvalidInput(f"invalid class reference {ref!r}: expected 'package.module:Name'")
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"cannot import {ref!r} ({exc}); install the package that defines the model"
        ) from exc
    return target
