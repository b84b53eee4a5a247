"""Turning user values into what the store keeps: string params, float metrics, valid keys."""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from typing import Any

from stackml._internal.names import InvalidName, validate_key, validate_name
from stackml.errors import InvalidInput

__all__ = ["check_key", "check_name", "flatten_params", "param_to_str", "to_float"]


def check_key(key: object, *, what: str = "key") -> str:
    """Validate a metric, param or tag key, raising ``InvalidInput``."""
    try:
        return validate_key(key, what=what)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def check_name(name: object, *, what: str = "name") -> str:
    """Validate a slug-like name (project, dataset, version), raising ``InvalidInput``."""
    try:
        return validate_name(name, what=what)
    except InvalidName as exc:
        raise InvalidInput(str(exc)) from exc


def param_to_str(value: Any) -> str:
    """The string a param value is stored as; floats use ``repr`` so ``3e-4`` round-trips."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        # float() first: NumPy 2 scalars repr as "np.float64(...)".
        return repr(float(value))
    if isinstance(value, (list, tuple)):
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings with ``.`` and stringify the leaves.

    Example:
        ``{"optim": {"lr": 3e-4}}`` becomes ``{"optim.lr": "0.0003"}``.
    """
    if not isinstance(params, Mapping):
        raise InvalidInput(f"params must be a mapping of names to values, not {type(params)!r}")
    flat: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise InvalidInput(f"param names must be strings, not {key!r}")
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{full}."))
        else:
            flat[check_key(full, what="param key")] = param_to_str(value)
    return flat


def stringify_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """Validate tag keys and turn values into strings."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInput(f"tags must be a mapping of names to values, not {type(tags)!r}")
    return {check_key(k, what="tag key"): param_to_str(v) for k, v in tags.items()}


#: Types whose ``float()`` is known to be a number (not a string that happens to parse).
_NUMERIC_TYPES: set[type] = {float, int, bool}
_REFUSED_TYPES = (str, bytes, bytearray)


def is_numeric_type(kind: type) -> bool:
    """Whether values of ``kind`` are metric values (cached after the first check)."""
    if kind in _NUMERIC_TYPES:
        return True
    if issubclass(kind, _REFUSED_TYPES) or not (
        hasattr(kind, "__float__") or hasattr(kind, "__index__")
    ):
        return False
    _NUMERIC_TYPES.add(kind)
    return True


def to_float(key: str, value: Any) -> float:
    """One metric value as a float, raising ``InvalidInput`` for anything non-numeric."""
    if not is_numeric_type(type(value)):
        raise InvalidInput(
            f"metric {key!r} must be a number (Python, NumPy or a one-element tensor), "
            f"not {type(value).__name__}"
        )
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInput(f"metric {key!r} is not a single number: {exc}") from exc
