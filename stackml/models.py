"""``stackml.models``: the model registry's public functions under a short name.

::

    import stackml.models

    predictor = stackml.models.load("digits@production")
    stackml.models.promote("digits@4", reason="beats v3 on the shifted test set")
"""

from __future__ import annotations

from stackml.registry import (
    GateFailed,
    GateResult,
    LoggedModel,
    MetricThreshold,
    Predictor,
    Signature,
    TensorSpec,
    add_version_lineage,
    alias_history,
    download_version,
    get_version,
    list_models,
    list_versions,
    load,
    log_model,
    parse_ref,
    promote,
    register,
    register_gate,
    remove_alias,
    resolve,
    rollback,
    set_alias,
    set_gates,
)

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
    "promote",
    "register",
    "register_gate",
    "remove_alias",
    "resolve",
    "rollback",
    "set_alias",
    "set_gates",
]
