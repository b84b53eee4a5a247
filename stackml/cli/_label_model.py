"""A registered model version as the callable labeling's active learning and auto-labeling take.

Labeling sits below the registry, so it takes any callable; this wraps
:func:`stackml.registry.load` into one. Image tasks are decoded, converted to grey (one
channel) or RGB, resized to the model's input size and scaled to 0..1; text tasks are not
supported by this wrapper (pass a Python callable through the API instead). The output named
by the signature's ``probabilities`` (else the first output) is read as class scores; rows
that do not sum to one are soft-maxed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from stackml.errors import InvalidInput

if TYPE_CHECKING:
    from stackml.store import Store


def registry_model(store: Store, ref: str, *, trust: bool = False) -> Any:
    """A callable over task data answering ``{"probabilities", "embeddings"}``."""
    from PIL import Image

    import stackml.registry as registry

    predictor = registry.load(ref, store=store, trust=trust)
    spec = predictor.signature.inputs[0]
    shape = [d for d in spec.shape]
    if len(shape) != 4:
        raise InvalidInput(
            f"{ref}: the model input {spec.shape} is not an image batch (N, C, H, W)"
        )
    channels, height, width = shape[1], shape[2], shape[3]
    scale = (
        float(predictor.signature.extra.get("input_scale", 1.0))
        if predictor.signature.extra
        else 1.0
    )

    def to_array(item: Mapping[str, Any]) -> np.ndarray:
        data = item.get("image_bytes")
        if not isinstance(data, bytes):
            raise InvalidInput("the registry model wrapper labels image tasks only")
        with Image.open(io.BytesIO(data)) as image:
            image = image.convert("L" if channels == 1 else "RGB").resize((width, height))
            pixels = np.asarray(image, dtype=np.float32) / 255.0 * scale
        return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)

    def model(items: list[Mapping[str, Any]]) -> dict[str, Any]:
        batch = np.stack([to_array(i) for i in items]).astype(spec.dtype)
        outputs = predictor.predict(batch)
        name = predictor.signature.probabilities or next(iter(outputs))
        scores = np.asarray(outputs[name], dtype=float)
        if not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3) or np.any(scores < 0):
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        try:
            embeddings = predictor.embed(batch)
        except NotImplementedError:
            embeddings = None
        return {"probabilities": scores, "embeddings": embeddings}

    return model
