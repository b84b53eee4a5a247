"""A model's **signature**: what it takes and what it returns.

The signature is stored with every model version. Serving validates requests against it,
the playground builds its form from it, and monitoring reads feature names and class labels
from it. Where a model was trained on a table, ``input_schema`` is that dataset version's
:class:`~stackml.data.schema.Schema` (types, ranges, categorical domains and the statistics
drift is measured against), so one schema serves training, serving and monitoring.

Conventions:

* ``inputs`` and ``outputs`` are tensors, batch-first: ``shape[0]`` is the batch dimension and
  is ``-1``; any other free dimension is also ``-1``. ``dtype`` is a NumPy dtype name
  (``float32``, ``int64``, ``bool``, ``str``...).
* A model that takes **records** (tabular features) has one input tensor of shape ``(-1, F)``
  and ``input_schema`` lists the ``F`` feature columns in the order they are stacked. A record
  ``{"alcohol": 13.2, ...}`` becomes one row of that tensor.
* A classifier sets ``task="classification"``, ``classes`` (labels, index-aligned) and
  ``probabilities`` (the name of the output holding class probabilities, shape ``(-1, C)``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stackml.data.schema import Schema
from stackml.errors import InvalidInput

__all__ = ["Signature", "TensorSpec"]

TASKS = ("classification", "regression", "embedding", "other")


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output tensor: NumPy dtype name and shape (``-1`` = free)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("a tensor needs a name")
        try:
            np.dtype(self.dtype)
        except TypeError as exc:
            raise InvalidInput(f"tensor {self.name!r}: unknown dtype {self.dtype!r}") from exc
        if not self.shape or any(not isinstance(d, int) or d < -1 or d == 0 for d in self.shape):
            raise InvalidInput(
                f"tensor {self.name!r}: shape {self.shape!r} must be non-empty positive sizes "
                "or -1 for a free dimension"
            )

    @functools.cached_property
    def numpy_dtype(self) -> np.dtype[Any]:
        """The spec's dtype as a NumPy dtype (parsed once)."""
        return np.dtype(self.dtype)

    def check(self, array: np.ndarray) -> None:
        """Raise ``InvalidInput`` naming the problem when ``array`` does not fit this spec."""
        shape = self.shape
        if (  # the common case, cheaply: exact dtype and shape
            array.dtype == self.numpy_dtype
            and array.ndim == len(shape)
            and array.shape[1:] == shape[1:]
            and shape[0] in (-1, array.shape[0])
        ):
            return
        if array.ndim != len(self.shape):
            raise InvalidInput(
                f"input {self.name!r}: expected {len(self.shape)} dimensions "
                f"{_shape_text(self.shape)}, got shape {tuple(array.shape)}"
            )
        for axis, (want, got) in enumerate(zip(self.shape, array.shape, strict=True)):
            if want != -1 and want != got:
                raise InvalidInput(
                    f"input {self.name!r}: dimension {axis} must be {want} "
                    f"{_shape_text(self.shape)}, got shape {tuple(array.shape)}"
                )
        if not np.can_cast(array.dtype, self.numpy_dtype, casting="same_kind"):
            raise InvalidInput(f"input {self.name!r}: expected {self.dtype}, got {array.dtype}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        """Rebuild from :meth:`to_dict`."""
        return cls(str(data["name"]), str(data["dtype"]), tuple(int(d) for d in data["shape"]))


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join("N" if i == 0 and d == -1 else str(d) for i, d in enumerate(shape)) + ")"


@dataclass(frozen=True)
class Signature:
    """Inputs, outputs, task and classes of a model; see the module docstring."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    task: str = "other"
    classes: tuple[str, ...] = ()
    probabilities: str | None = None
    input_schema: Schema | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise InvalidInput("a signature needs at least one input")
        if self.task not in TASKS:
            raise InvalidInput(f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        outputs = {o.name for o in self.outputs}
        if self.probabilities is not None and self.probabilities not in outputs:
            raise InvalidInput(f"probabilities output {self.probabilities!r} is not an output")

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Record field names in stacking order (empty when the model takes raw tensors)."""
        return self.input_schema.names if self.input_schema is not None else ()

    def input(self, name: str | None = None) -> TensorSpec:
        """The input called ``name``, or the only input. Raises ``InvalidInput``."""
        if name is None:
            if len(self.inputs) != 1:
                raise InvalidInput("the model has several inputs: name one")
            return self.inputs[0]
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise InvalidInput(f"the model has no input {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form, stored with the model version."""
        return {
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "task": self.task,
            "classes": list(self.classes),
            "probabilities": self.probabilities,
            "input_schema": None if self.input_schema is None else self.input_schema.to_dict(),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Rebuild from :meth:`to_dict`."""
        schema = data.get("input_schema")
        return cls(
            inputs=tuple(TensorSpec.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in data.get("outputs", ())),
            task=str(data.get("task", "other")),
            classes=tuple(str(c) for c in data.get("classes", ())),
            probabilities=data.get("probabilities"),
            input_schema=None if not schema else Schema.from_dict(schema),
            extra=dict(data.get("extra", {})),
        )
