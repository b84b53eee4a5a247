"""Content fingerprints: of a step's code (with the helpers it calls) and of its cache key.

A step's code fingerprint hashes its source and, recursively, the source of every function
or class it refers to by a global name (``helper(x)``, ``utils.helper(x)``) that is defined in
a module of the same top-level package as the step. Library code (NumPy, scikit-learn) is not
hashed: pin it with ``deps=`` if its version should invalidate the cache.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from stackml._internal.hashing import hash_bytes, hash_file
from stackml.errors import InvalidInput

__all__ = ["cache_key", "code_fingerprint", "dependency_fingerprint", "value_fingerprint"]

_CODE_CACHE: dict[int, tuple[Any, str]] = {}


def _top_package(module: str | None) -> str:
    return (module or "").split(".", 1)[0]


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            return repr(obj)
        # No source file (a REPL, exec): the bytecode and constants stand in for it.
        return code.co_code.hex() + repr(code.co_consts)


def _unwrap(obj: Any) -> Any:
    # A step or pipeline object wraps the user's function in ``.fn``.
    inner = getattr(obj, "fn", None)
    return inner if isinstance(inner, types.FunctionType) else obj


def _is_user_code(obj: Any, package: str) -> bool:
    if not isinstance(obj, (types.FunctionType, type)):
        return False
    return _top_package(getattr(obj, "__module__", None)) == package


def _collect(fn: types.FunctionType, package: str, seen: dict[str, str]) -> None:
    key = f"{fn.__module__}:{fn.__qualname__}"
    if key in seen:
        return
    seen[key] = _source(fn)
    scope = fn.__globals__
    for name in set(_names(fn.__code__)):
        target = _unwrap(scope.get(name))
        candidates: list[Any] = [target]
        if isinstance(target, types.ModuleType) and _top_package(target.__name__) == package:
            # ``helpers.clean(...)``: attribute names are in co_names too.
            candidates = [_unwrap(getattr(target, n, None)) for n in set(_names(fn.__code__))]
        for candidate in candidates:
            if not _is_user_code(candidate, package):
                continue
            if isinstance(candidate, types.FunctionType):
                _collect(candidate, package, seen)
            else:
                ckey = f"{candidate.__module__}:{candidate.__qualname__}"
                seen.setdefault(ckey, _source(candidate))


def code_fingerprint(fn: Callable[..., Any]) -> str:
    """Hash of ``fn``'s source and of the package-local helpers it calls."""
    fn = _unwrap(fn)
    if not isinstance(fn, types.FunctionType):
        raise InvalidInput(f"a step must be a plain Python function, not {fn!r}")
    cached = _CODE_CACHE.get(id(fn))
    if cached is not None and cached[0] is fn:
        return cached[1]
    seen: dict[str, str] = {}
    _collect(fn, _top_package(fn.__module__), seen)
    # Sources only, not module names: moving code keeps its cache, editing it does not.
    digest = hash_bytes(json.dumps(sorted(seen.values())).encode())
    _CODE_CACHE[id(fn)] = (fn, digest)
    return digest


def value_fingerprint(value: Any) -> str:
    """Hash of a parameter value: canonical JSON, or the bytes of NumPy arrays."""
    if type(value).__name__ == "ndarray":
        return hash_bytes(str(value.dtype).encode() + repr(value.shape).encode() + value.tobytes())
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=False, default=_fallback)
    except ValueError as error:
        raise InvalidInput(f"parameter value {value!r} cannot be hashed: {error}") from error
    return hash_bytes(text.encode())


def _fallback(value: Any) -> Any:
    if isinstance(value, Path):
        return {"path": str(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise InvalidInput(
        f"parameter of type {type(value).__qualname__} cannot be part of a cache key; pass "
        "JSON-able values, NumPy arrays or paths, or make it the output of a step"
    )


def dependency_fingerprint(dep: Any) -> str:
    """Hash of a declared external dependency.

    A :class:`~pathlib.Path` hashes the file's content (a folder: every file under it); a
    callable is called and its answer hashed; anything else (a version string) is hashed as
    text.
    """
    if isinstance(dep, Path):
        if dep.is_file():
            return hash_file(dep)
        if dep.is_dir():
            files = {
                p.relative_to(dep).as_posix(): hash_file(p)
                for p in sorted(dep.rglob("*"))
                if p.is_file()
            }
            return hash_bytes(json.dumps(files, sort_keys=True).encode())
        raise InvalidInput(f"declared dependency {dep} does not exist")
    if callable(dep):
        return hash_bytes(str(dep()).encode())
    return hash_bytes(str(dep).encode())


def cache_key(
    *,
    code: str,
    inputs: Mapping[str, str],
    params: Mapping[str, str],
    deps: list[str],
    outputs: tuple[str, ...],
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The content key of one step: equal keys mean equal outputs."""
    payload = {
        "v": 1,
        "code": code,
        "inputs": dict(sorted(inputs.items())),
        "params": dict(sorted(params.items())),
        "deps": deps,
        "outputs": list(outputs),
        "extra": dict(extra or {}),
    }
    return hash_bytes(json.dumps(payload, sort_keys=True).encode())
