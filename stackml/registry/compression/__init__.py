"""Model compression: int8 quantization, magnitude pruning, knowledge distillation.

The pure functions work on files and modules; :func:`compress` applies one to a registered
version and registers the result with a ``compressed_from`` lineage edge::

    from stackml.registry.compression import compress
    compress("digits@production", "int8-static", data=(x_val, y_val))
"""

from __future__ import annotations

from stackml.registry.compression.api import METHODS, compress, fine_tuner
from stackml.registry.compression.distill import DistillResult, distill, teacher_logits
from stackml.registry.compression.prune import PruneResult, prune, sparsity
from stackml.registry.compression.quantize import quantize_dynamic, quantize_static

__all__ = [
    "METHODS",
    "DistillResult",
    "PruneResult",
    "compress",
    "distill",
    "fine_tuner",
    "prune",
    "quantize_dynamic",
    "quantize_static",
    "sparsity",
    "teacher_logits",
]
