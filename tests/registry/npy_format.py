"""A tiny model format for the registry's tests: a linear map ``x @ W`` kept as ``weights.npy``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stackml.registry.formats._base import ModelFiles, ModelFormat, prepare_feeds, verify_files
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature

NAME = "npy-linear"
TARGET = "tests.registry.npy_format:NpyLinearFormat"


class NpyLinear(Predictor):
    runtime = "numpy"

    def __init__(self, weights: np.ndarray, signature: Signature, **kwargs: Any) -> None:
        super().__init__(signature, **kwargs)
        self.weights = weights

    def predict(self, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = prepare_feeds(self.signature, inputs)
        x = next(iter(feeds.values()))
        return {self.signature.outputs[0].name: x.reshape(len(x), -1) @ self.weights}


class NpyLinearFormat(ModelFormat):
    name = NAME

    def save(
        self, obj: Any, dest_dir: Path, *, signature: Any, example: Any, **options: Any
    ) -> ModelFiles:
        np.save(Path(dest_dir) / "weights.npy", np.asarray(obj, dtype=np.float32))
        return ModelFiles(NAME, ("weights.npy",), {"kind": "linear"})

    def load(
        self, model_dir: Path, meta: Mapping[str, Any], signature: Signature, **kwargs: Any
    ) -> Predictor:
        verify_files(model_dir, meta)
        weights = np.load(Path(model_dir) / "weights.npy", allow_pickle=False)
        return NpyLinear(
            weights, signature, name=kwargs.get("name", ""), version=kwargs.get("version", 0)
        )
