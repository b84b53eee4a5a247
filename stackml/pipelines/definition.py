"""``@step``, ``@pipeline`` and the :class:`Step` and :class:`Pipeline` objects they make.

::

    @stackml.step
    def load(n: int) -> np.ndarray: ...

    @stackml.step(retries=2, executor="local", cache=False)
    def train(x: np.ndarray) -> dict: ...

    @stackml.pipeline(project="digits")
    def digits(n: int = 100):
        train(load(n))

    digits.run(n=50)

Outside a pipeline a step is a plain function call; inside one it records a node.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from stackml._internal.names import InvalidName, validate_name
from stackml.errors import InvalidInput
from stackml.pipelines.graph import DatasetInput, Graph, Node, Output

if TYPE_CHECKING:
    from stackml.pipelines.result import PipelineResult

__all__ = ["Pipeline", "Step", "StepOptions", "known_pipelines", "pipeline", "step"]

_TRACE: contextvars.ContextVar[Graph | None] = contextvars.ContextVar(
    "stackml_pipeline_trace", default=None
)
_PIPELINES: dict[str, Pipeline] = {}


def _name(value: object, what: str) -> str:
    try:
        return validate_name(value, what=what)
    except InvalidName as error:
        raise InvalidInput(str(error)) from error


@dataclass(frozen=True)
class StepOptions:
    """How a step runs and caches.

    Attributes:
        name: node name (default: the function name).
        outputs: output names; more than one makes the step answer a tuple.
        cache: reuse outputs when the cache key is unchanged; ``False`` for
            non-deterministic steps.
        retries: extra attempts after a failure (not after a timeout kill).
        timeout: seconds before the step is killed (``local``, ``compute`` and ``ray`` kill
            its processes; ``inprocess`` marks it killed and abandons its thread).
        executor: ``"inprocess"``, ``"local"``, ``"compute"``, ``"ray"`` or a registered
            name; ``None`` uses the pipeline run's executor.
        resources: e.g. ``{"cpus": 2, "gpus": 1, "memory": "4G"}`` (``compute`` and ``ray``).
        deps: declared external dependencies hashed into the cache key: paths (content),
            callables (their answer) or version strings.
        pickle: allow the pickle materializer for outputs nothing else can store.
        after: names of steps to wait for without taking their outputs.
    """

    name: str | None = None
    outputs: tuple[str, ...] = ("output",)
    cache: bool = True
    retries: int = 0
    timeout: float | None = None
    executor: str | None = None
    resources: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[Any, ...] = ()
    pickle: bool = False
    after: tuple[str, ...] = ()


def _check_options(options: StepOptions) -> StepOptions:
    if options.name is not None:
        _name(options.name, "step name")
    if not options.outputs:
        raise InvalidInput("a step needs at least one output name")
    outputs = tuple(_name(o, "output name") for o in options.outputs)
    if len(set(outputs)) != len(outputs):
        raise InvalidInput(f"output names repeat: {outputs}")
    if not isinstance(options.retries, int) or options.retries < 0:
        raise InvalidInput("retries must be a non-negative integer")
    if options.timeout is not None and not options.timeout > 0:
        raise InvalidInput("timeout must be a positive number of seconds")
    if options.executor is not None:
        _name(options.executor, "executor")
    return replace(
        options,
        outputs=outputs,
        deps=tuple(options.deps),
        after=tuple(_name(a, "step name") for a in options.after),
        resources=dict(options.resources),
    )


class Step:
    """A function that runs as one node of a pipeline, with its configuration.

    Args:
        fn: the function; its arguments are upstream outputs or plain parameters.
        **options: see :class:`StepOptions`.
    """

    def __init__(self, fn: Callable[..., Any], **options: Any) -> None:
        if not inspect.isfunction(fn):
            raise InvalidInput(f"@step decorates plain functions, not {fn!r}")
        self.fn = fn
        self.options = _check_options(StepOptions(**options))
        self.signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    # Configuration shortcuts read by the runner.
    @property
    def name(self) -> str:
        """The node name the step takes in a pipeline."""
        return self.options.name or _name(self.fn.__name__, "step name")

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.options.outputs

    @property
    def cache(self) -> bool:
        return self.options.cache

    @property
    def executor(self) -> str | None:
        return self.options.executor

    @property
    def qualified_name(self) -> str:
        """``module:qualname`` of the function (what a worker process imports)."""
        return f"{self.fn.__module__}:{self.fn.__qualname__}"

    @functools.cached_property
    def source_file(self) -> str:
        return inspect.getsourcefile(self.fn) or ""

    def configure(self, **changes: Any) -> Step:
        """A copy of this step with some options changed, e.g. ``train.configure(retries=3)``."""
        return Step(self.fn, **{**self.options.__dict__, **changes})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = _TRACE.get()
        if graph is None:
            return self.fn(*args, **kwargs)
        return self._trace(graph, args, kwargs)

    def _trace(self, graph: Graph, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise InvalidInput(f"step {self.name!r}: {error} (missing or extra input)") from error
        bound.apply_defaults()
        inputs: dict[str, Output] = {}
        params: dict[str, Any] = {}
        for arg, value in bound.arguments.items():
            kind = self.signature.parameters[arg].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise InvalidInput(f"step {self.name!r}: *args and **kwargs are not supported")
            if isinstance(value, Output):
                inputs[arg] = value
            else:
                _no_hidden_outputs(self.name, arg, value)
                params[arg] = value
        node = Node(graph.unique_name(self.name), self, inputs, params, self.options.after)
        graph.nodes[node.name] = node
        outs = tuple(Output(node.name, o, id(graph)) for o in self.outputs)
        return outs[0] if len(outs) == 1 else outs

    def __repr__(self) -> str:
        return f"Step({self.qualified_name})"


def _no_hidden_outputs(step: str, arg: str, value: Any) -> None:
    items: Sequence[Any] = ()
    if isinstance(value, (list, tuple, set)):
        items = list(value)
    elif isinstance(value, Mapping):
        items = list(value.values())
    if any(isinstance(v, Output) for v in items):
        raise InvalidInput(
            f"step {step!r} gets step outputs inside a container in {arg!r}; pass each "
            "output as its own argument"
        )


@overload
def step(fn: Callable[..., Any], /) -> Step: ...
@overload
def step(fn: None = None, /, **options: Any) -> Callable[[Callable[..., Any]], Step]: ...
def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline step: ``@step`` or ``@step(retries=2, cache=False, ...)``.

    See :class:`StepOptions` for the options.
    """
    if fn is not None:
        return Step(fn, **options)
    return lambda f: Step(f, **options)


class Pipeline:
    """A pipeline: a function whose step calls make the DAG.

    Args:
        fn: the pipeline function; its arguments are the pipeline's parameters.
        name: registered name (default: the function name).
        project: project of the tracked runs.
        description: shown in ``stackml pipeline ls`` and the UI.
        executor: default executor of its steps (``"inprocess"`` unless told).
        max_parallel: most steps running at once.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        project: str = "default",
        description: str = "",
        executor: str = "inprocess",
        max_parallel: int = 4,
    ) -> None:
        if not inspect.isfunction(fn):
            raise InvalidInput(f"@pipeline decorates plain functions, not {fn!r}")
        self.fn = fn
        self.name = _name(name or fn.__name__, "pipeline name")
        self.project = _name(project, "project name")
        self.description = description or inspect.cleandoc(fn.__doc__ or "").split("\n")[0]
        self.executor = _name(executor, "executor")
        if not isinstance(max_parallel, int) or max_parallel < 1:
            raise InvalidInput("max_parallel must be a positive integer")
        self.max_parallel = max_parallel
        self.signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        _PIPELINES[self.name] = self

    @property
    def entrypoint(self) -> str:
        """What a process imports to find this pipeline: ``module:function`` (or a file path
        for a script run as ``__main__``)."""
        module = self.fn.__module__
        if module == "__main__":
            module = str(Path(inspect.getsourcefile(self.fn) or sys.argv[0]).resolve())
        return f"{module}:{self.fn.__qualname__}"

    def bind(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Check ``params`` against the pipeline function's signature; answer all of them."""
        try:
            bound = self.signature.bind(**dict(params or {}))
        except TypeError as error:
            raise InvalidInput(f"pipeline {self.name!r}: {error}") from error
        bound.apply_defaults()
        return dict(bound.arguments)

    def build(self, params: Mapping[str, Any] | None = None) -> Graph:
        """Trace the pipeline function with ``params`` and answer its checked DAG.

        Raises:
            InvalidInput: bad parameters, a missing input or a cycle.
        """
        values = self.bind(params)
        graph = Graph(self.name)
        token = _TRACE.set(graph)
        try:
            self.fn(**values)
        finally:
            _TRACE.reset(token)
        graph.validate()
        return graph

    def run(self, params: Mapping[str, Any] | None = None, **options: Any) -> PipelineResult:
        """Run the pipeline; see :func:`stackml.pipelines.run_pipeline` for the options."""
        from stackml.pipelines.api import run_pipeline

        return run_pipeline(self, params=params, **options)

    def __call__(self, **params: Any) -> PipelineResult:
        return self.run(params)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r})"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...
@overload
def pipeline(fn: None = None, /, **options: Any) -> Callable[[Callable[..., Any]], Pipeline]: ...
def pipeline(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name=..., project=...)``."""
    if fn is not None:
        return Pipeline(fn, **options)
    return lambda f: Pipeline(f, **options)


def dataset(name: str, ref: str = "latest") -> DatasetInput:
    """A dataset version as a step argument, e.g. ``prepare(dataset("digits"))``.

    The step receives the :class:`~stackml.store.datasets_base.DatasetVersion`; which version
    ``ref`` names is decided when the run starts and is part of the cache key.
    """
    return DatasetInput(_name(name, "dataset name"), _name(ref, "version ref"))


def known_pipelines() -> dict[str, Pipeline]:
    """Pipelines defined in this process, by name."""
    return dict(_PIPELINES)
