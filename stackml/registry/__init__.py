"""The model registry: registered models, versions, aliases and signatures; export,
compression and loading (:func:`load`).

::

    from stackml import registry

    logged = registry.log_model(run, model, "model", format="onnx", example=x[:8],
                                register_as="digits")
    registry.promote("digits@1", reason="beats the baseline")   # runs the production gates
    predictor = registry.load("digits@production")
    predictor.predict(x[:32])
"""

from __future__ import annotations

from stackml.registry.gates import (
    GateFailed,
    GateResult,
    MetricThreshold,
    register_gate,
    register_gate_factory,
)
from stackml.registry.loading import (
    download_version,
    get_version,
    list_models,
    list_versions,
    load,
)
from stackml.registry.promotion import (
    alias_history,
    promote,
    remove_alias,
    rollback,
    set_alias,
    set_gates,
)
from stackml.registry.refs import parse_ref, parse_source, resolve
from stackml.registry.runtime import Predictor
from stackml.registry.signature import Signature, TensorSpec
from stackml.registry.versions import LoggedModel, add_version_lineage, log_model, register

__all__ = [
    "GateFailed",
    "GateResult",
    "LoggedModel",
    "MetricThreshold",
    "Predictor",
    "Signature",
    "TensorSpec",
    "add_version_lineage",
    "alias_history",
    "download_version",
    "get_version",
    "list_models",
    "list_versions",
    "load",
    "log_model",
    "parse_ref",
    "parse_source",
    "promote",
    "register",
    "register_gate",
    "register_gate_factory",
    "remove_alias",
    "resolve",
    "rollback",
    "set_alias",
    "set_gates",
]
