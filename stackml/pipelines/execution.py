"""Running one step: the task an executor gets, the outcome it answers, and the work itself.

:func:`execute_step` is the same code whichever executor runs the step: in a thread of this
process, in a ``python -m stackml.pipelines.worker`` subprocess, or in a compute job. It loads
the inputs through their materializers, calls the function and stores every output as a
blob. It never writes cache entries: only the runner does, after it has seen the step
succeed, so a killed step leaves nothing reusable behind.
"""

from __future__ import annotations

import contextvars
import importlib
import importlib.util
import io
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from stackml.errors import InvalidInput, StackmlError
from stackml.pipelines.materializers import (
    MaterializeContext,
    Stored,
    get_materializer,
    materializer_for,
    scratch_dir,
)

if TYPE_CHECKING:
    from stackml.store import Store

__all__ = ["StepOutcome", "StepTask", "current_store", "execute_step", "import_function"]

_STORE: contextvars.ContextVar[Store | None] = contextvars.ContextVar(
    "stackml_step_store", default=None
)


def current_store() -> Store:
    """The store of the pipeline run whose step is running (e.g. to read a dataset version).

    Raises:
        InvalidInput: called outside a running step.
    """
    store = _STORE.get()
    if store is None:
        raise InvalidInput("current_store() is only available while a pipeline step runs")
    return store


@dataclass(frozen=True)
class StepTask:
    """Everything a process needs to run one step (JSON-able, see :meth:`to_json`)."""

    pipeline: str
    pipeline_run_id: str
    step: str
    function: str
    source_file: str
    run_id: str
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ("output",)
    allow_pickle: bool = False
    timeout: float | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    tracking_uri: str = ""
    artifact_uri: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "outputs": list(self.outputs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepTask:
        return cls(**{**data, "outputs": tuple(data["outputs"])})


@dataclass(frozen=True)
class StepOutcome:
    """How a step ended: ``succeeded``, ``failed`` or ``killed``, with its outputs and log."""

    status: str
    outputs: tuple[Mapping[str, Any], ...] = ()
    log: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "outputs": [dict(o) for o in self.outputs]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepOutcome:
        return cls(data["status"], tuple(data["outputs"]), data.get("log", ""), data["error"])


def import_function(qualified: str, source_file: str = "") -> Callable[..., Any]:
    """The function ``module:qualname`` names (a step object is unwrapped).

    A script run as ``__main__`` is loaded from ``source_file`` under another module name, so
    its ``if __name__ == "__main__"`` block does not run again.
    """
    module_name, _, qualname = qualified.partition(":")
    if not qualname:
        raise InvalidInput(f"{qualified!r} is not 'module:function'")
    if module_name == "__main__" or module_name.endswith(".py"):
        path = Path(source_file or module_name)
        if not path.is_file():
            raise InvalidInput(f"cannot find the pipeline script {path}")
        spec = importlib.util.spec_from_file_location("stackml_pipeline_script", path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(spec.name, module)
        sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise InvalidInput(f"cannot import {module_name!r}: {error}") from error
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise InvalidInput(f"{qualified!r}: no {part!r} in {module_name}")
    return getattr(target, "fn", target)


# -- output capture for steps that run in threads ------------------------------------------
class _ThreadRouted(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: writes of a thread running a step go to
    that step's buffer, everything else to the real stream."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        return (buffer or self.real).write(text)

    def flush(self) -> None:
        self.real.flush()


_install_lock = threading.Lock()


def _routes() -> tuple[_ThreadRouted, _ThreadRouted]:
    with _install_lock:
        if not isinstance(sys.stdout, _ThreadRouted):
            sys.stdout = _ThreadRouted(sys.stdout)
        if not isinstance(sys.stderr, _ThreadRouted):
            sys.stderr = _ThreadRouted(sys.stderr)
        return sys.stdout, sys.stderr  # type: ignore[return-value]


def execute_step(
    task: StepTask,
    store: Store,
    fn: Callable[..., Any] | None = None,
    *,
    capture: bool = True,
) -> StepOutcome:
    """Load inputs, call the step, store its outputs; never raises for the step's errors."""
    buffer = io.StringIO()
    routes = _routes() if capture else ()
    for route in routes:
        route.local.buffer = buffer
    token = _STORE.set(store)
    try:
        ctx = MaterializeContext(store, scratch_dir())
        function = fn or import_function(task.function, task.source_file)
        kwargs = dict(task.params)
        for arg, ref in task.inputs.items():
            stored = Stored(ref["hash"], dict(ref.get("meta") or {}))
            kwargs[arg] = get_materializer(ref["materializer"]).load(stored, ctx)
        result = function(**kwargs)
        values = _split(task, result)
        outputs = []
        for name, value in zip(task.outputs, values, strict=True):
            m = materializer_for(value, allow_pickle=task.allow_pickle)
            stored = m.save(value, ctx)
            outputs.append(
                {"name": name, "materializer": m.name, "hash": stored.hash, "meta": stored.meta}
            )
        return StepOutcome("succeeded", tuple(outputs), buffer.getvalue())
    except (Exception, SystemExit) as error:  # the step's own failure is data, not a crash
        detail = "".join(traceback.format_exception(error))
        buffer.write(detail)
        kind = "" if isinstance(error, StackmlError) else f"{type(error).__name__}: "
        return StepOutcome("failed", (), buffer.getvalue(), f"{kind}{error}"[:2000])
    finally:
        _STORE.reset(token)
        for route in routes:
            route.local.buffer = None


def _split(task: StepTask, result: Any) -> tuple[Any, ...]:
    if len(task.outputs) == 1:
        return (result,)
    if not isinstance(result, tuple) or len(result) != len(task.outputs):
        raise InvalidInput(
            f"step {task.step!r} declares outputs {task.outputs} and must return a tuple of "
            f"{len(task.outputs)} values"
        )
    return result
