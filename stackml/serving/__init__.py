"""Serving: an inference server over registry models with adaptive batching, the Open
Inference Protocol v2, prediction logging, canary and shadow rollout, and packaging.

Start one with ``stackml serve NAME@alias`` or, in Python, :class:`ServingServer`.
"""

from __future__ import annotations

from stackml.serving.batching import AdaptiveBatcher, BatchPolicy, Overloaded
from stackml.serving.endpoint import EndpointSpec
from stackml.serving.logs import read_prediction_tensors, read_predictions
from stackml.serving.runtime import ServingOptions, ServingRuntime
from stackml.serving.server import ServingServer, registry_loader

__all__ = [
    "AdaptiveBatcher",
    "BatchPolicy",
    "EndpointSpec",
    "Overloaded",
    "ServingOptions",
    "ServingRuntime",
    "ServingServer",
    "read_prediction_tensors",
    "read_predictions",
    "registry_loader",
]
